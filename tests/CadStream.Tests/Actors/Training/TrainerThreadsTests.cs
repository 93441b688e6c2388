using CadStream.Actors;
using CadStream.Tests.Model;
using static TorchSharp.torch;

namespace CadStream.Tests.Actors.Training;

public sealed class TrainerThreadsTests
{
    [Fact]
    public void Trainers_share_the_cores_unless_a_count_is_configured()
    {
        int cores = Environment.ProcessorCount;
        Assert.Equal(3, new NodeSettings { TrainerThreads = 3 }.ThreadsPerTrainer(2));
        Assert.Equal(cores, new NodeSettings().ThreadsPerTrainer(1));
        Assert.Equal(Math.Max(1, cores / 2), new NodeSettings().ThreadsPerTrainer(2));
        Assert.Equal(1, new NodeSettings().ThreadsPerTrainer(cores * 4));
        Assert.Equal(cores, new NodeSettings().ThreadsPerTrainer(0));
    }

    [Fact]
    public void A_thread_count_set_on_a_trainer_thread_stays_on_that_thread()
    {
        // What TrainerLoop relies on: OpenMP's thread count is per calling thread, so one trainer's
        // setting does not change another's (or the node's main thread's).
        _ = TestModels.Cpu;
        int before = get_num_threads();
        int seen = -1;
        // set_num_threads also becomes the count of every thread that has not run a parallel op yet: put the
        // count this fresh thread started with back, so the tests after this one start where they would have.
        var t = new Thread(() => { int start = get_num_threads(); set_num_threads(1); seen = get_num_threads(); set_num_threads(start); });
        t.Start();
        t.Join();
        Assert.Equal(1, seen);
        Assert.Equal(before, get_num_threads());
    }
}
