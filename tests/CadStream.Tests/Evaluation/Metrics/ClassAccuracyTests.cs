using CadStream.Evaluation.Metrics;

namespace CadStream.Tests.Evaluation.Metrics;

public class ClassAccuracyTests
{
    [Fact]
    public void Per_class_and_overall_accuracy()
    {
        // class 0: 2 requested, 1 right; class 1: 3 requested, 2 right; class 2: 4 of 4;
        // class 3 never requested. Overall 7/9; balanced = (1/2 + 2/3 + 1) / 3 = 13/18.
        int[] requested = [0, 0, 1, 1, 1, 2, 2, 2, 2];
        int[] predicted = [0, 1, 1, 1, 0, 2, 2, 2, 2];

        var r = ClassAccuracy.Compute(requested, predicted, numClasses: 4);

        Assert.Equal(7.0 / 9, r.Overall, 15);
        Assert.Equal(0.5, r.PerClass[0]);
        Assert.Equal(2.0 / 3, r.PerClass[1], 15);
        Assert.Equal(1.0, r.PerClass[2]);
        Assert.True(double.IsNaN(r.PerClass[3]));
        Assert.Equal(new[] { 2, 3, 4, 0 }, r.Requested);
        Assert.Equal(new[] { 1, 2, 4, 0 }, r.Correct);
        Assert.Equal(13.0 / 18, r.MeanPerClass, 15);
    }

    [Fact]
    public void Out_of_range_prediction_counts_as_wrong()
    {
        var r = ClassAccuracy.Compute([1, 1], [-1, 1], numClasses: 2);
        Assert.Equal(0.5, r.Overall);
        Assert.Equal(0.5, r.PerClass[1]);
    }

    [Fact]
    public void Invalid_input_throws_and_empty_input_is_nan()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassAccuracy.Compute([0, 2], [0, 2], numClasses: 2));
        Assert.Throws<ArgumentException>(() => ClassAccuracy.Compute([0, 1], [0], numClasses: 2));
        Assert.True(double.IsNaN(ClassAccuracy.Compute([], [], numClasses: 3).Overall));
    }
}
