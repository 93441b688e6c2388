using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Sets VER_FLG_WEAK on the Vernaux entries (ELF64 little-endian .gnu.version_r) whose names are
// listed, so the dynamic loader accepts a libstdc++ that lacks them. Idempotent.
public class WeakenElfVersionNeeds : Task
{
    [Required] public ITaskItem[] Files { get; set; }
    [Required] public string Versions { get; set; }

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        var wanted = Versions.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries).Select(v => v.Trim()).ToArray();
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            try
            {
                var bytes = File.ReadAllBytes(path);
                int changed = Patch(bytes, wanted);
                if (changed < 0) { Log.LogMessage(MessageImportance.Low, "{0}: already weak or no such need", path); continue; }
                // Write a new file and move it over the old one: the old one may be a hard link into the NuGet cache.
                var tmp = path + ".weak.tmp";
                File.WriteAllBytes(tmp, bytes);
                File.Delete(path);
                File.Move(tmp, path);
                Log.LogMessage(MessageImportance.Normal, "{0}: marked {1} version need(s) weak", path, changed);
            }
            catch (Exception e)
            {
                Log.LogError("Could not patch {0}: {1}", path, e.Message);
                return false;
            }
        }
        return !Log.HasLoggedErrors;
    }

    // Returns the number of entries changed, or -1 when nothing needed changing.
    static int Patch(byte[] b, string[] wanted)
    {
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (b[4] != 2 || b[5] != 1) throw new InvalidDataException("only ELF64 little-endian is supported");
        ulong shoff = BitConverter.ToUInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A);
        int shnum = BitConverter.ToUInt16(b, 0x3C);
        int changed = 0;
        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)shoff + i * shentsize);
            uint type = BitConverter.ToUInt32(b, sh + 4);
            if (type != ShtGnuVerneed) continue;
            int off = checked((int)BitConverter.ToUInt64(b, sh + 0x18));
            uint link = BitConverter.ToUInt32(b, sh + 0x28);
            uint count = BitConverter.ToUInt32(b, sh + 0x2C);
            int strSh = checked((int)shoff + (int)link * shentsize);
            int strOff = checked((int)BitConverter.ToUInt64(b, strSh + 0x18));
            int vn = off;
            for (uint n = 0; n < count; n++)
            {
                ushort cnt = BitConverter.ToUInt16(b, vn + 2);
                int aux = vn + (int)BitConverter.ToUInt32(b, vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    ushort flags = BitConverter.ToUInt16(b, aux + 4);
                    int name = strOff + (int)BitConverter.ToUInt32(b, aux + 8);
                    int end = Array.IndexOf(b, (byte)0, name);
                    string s = Encoding.ASCII.GetString(b, name, end - name);
                    if (Array.IndexOf(wanted, s) >= 0 && (flags & VerFlgWeak) == 0)
                    {
                        flags |= VerFlgWeak;
                        b[aux + 4] = (byte)(flags & 0xff);
                        b[aux + 5] = (byte)(flags >> 8);
                        changed++;
                    }
                    uint next = BitConverter.ToUInt32(b, aux + 12);
                    if (next == 0) break;
                    aux += (int)next;
                }
                uint vnext = BitConverter.ToUInt32(b, vn + 12);
                if (vnext == 0) break;
                vn += (int)vnext;
            }
        }
        return changed == 0 ? -1 : changed;
    }
}
