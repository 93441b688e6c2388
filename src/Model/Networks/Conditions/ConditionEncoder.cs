using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CadStream.Model.Networks.Conditions;

/// <summary>
/// What a denoiser is conditioned on, per sample. Class models fill Labels; text models fill Tokens
/// ([B, T, width] token states of a frozen text encoder) and TokenMask ([B, T], true at real tokens);
/// semantic-map models fill SpatialMaps (concatenated to the input, with their per-pixel coherence).
/// Coherence is the scalar trust in the condition, in [0, 1].
/// </summary>
public sealed record Conditioning(Tensor Coherence, Tensor? Labels = null, Tensor? Tokens = null, Tensor? SpatialMaps = null, Tensor? TokenMask = null);

/// <summary>
/// What a condition encoder gives the U-Net: one vector per sample that, added to the noise-level
/// embedding, modulates every residual block; for text, also a context sequence (B, L, D) with its mask
/// (B, L) that the attention resolutions cross-attend to.
/// </summary>
public sealed record ConditionOutput(Tensor Vector, Tensor? Context = null, Tensor? ContextMask = null);

/// <summary>
/// Turns a <see cref="Conditioning"/> into what the U-Net reads (<see cref="ConditionOutput"/>). New
/// condition kinds add an encoder, not a U-Net; the kind's unit in Model/Conditions makes it.
/// </summary>
public abstract class ConditionEncoder : nn.Module<Conditioning, ConditionOutput>
{
    protected ConditionEncoder(string name) : base(name) { }
}
