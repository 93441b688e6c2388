using ScottPlot;

namespace CadStream.Evaluation.Reports;

/// <summary>The sweep plots of an evaluation report (ScottPlot, PNG).</summary>
public static class Plots
{
    public static void CoherenceSweep(IReadOnlyList<QualityMetrics> sweep, string path)
    {
        int classes = sweep.Count > 0 ? sweep[0].PerClassAccuracy.Length : 1;
        var plot = new Plot();
        double[] c = sweep.Select(m => m.Coherence).ToArray();
        var acc = plot.Add.Scatter(c, sweep.Select(m => m.Accuracy).ToArray());
        acc.LegendText = "accuracy";
        var chance = plot.Add.HorizontalLine(1.0 / classes);
        chance.LinePattern = LinePattern.Dashed;
        chance.LegendText = $"chance (1/{classes})";
        var fid = plot.Add.Scatter(c, sweep.Select(m => m.Fid).ToArray());
        fid.LegendText = "FID (right axis)";
        fid.Axes.YAxis = plot.Axes.Right;
        plot.Axes.Bottom.Label.Text = "prompted coherence c (guidance 0)";
        plot.Axes.Left.Label.Text = "accuracy";
        plot.Axes.Right.Label.Text = "FID (classifier features)";
        plot.Axes.SetLimitsY(0, 1, plot.Axes.Left);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 640, 420);
    }

    public static void GuidanceSweep(IReadOnlyList<QualityMetrics> sweep, string path)
    {
        var plot = new Plot();
        var line = plot.Add.Scatter(sweep.Select(m => m.Fid).ToArray(), sweep.Select(m => m.Accuracy).ToArray());
        line.LegendText = "guidance w = " + string.Join(", ", sweep.Select(m => m.Guidance));
        foreach (var m in sweep)
        {
            var t = plot.Add.Text($"w={m.Guidance}", m.Fid, m.Accuracy);
            t.LabelFontSize = 11;
        }
        plot.Axes.Bottom.Label.Text = "FID (classifier features)";
        plot.Axes.Left.Label.Text = "accuracy";
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, 640, 420);
    }

    /// <summary>Accuracy and FID of several models side by side (the comparison of modes).</summary>
    public static void ModeComparison(IReadOnlyList<(string Name, QualityMetrics M)> rows, string path)
    {
        var plot = new Plot();
        for (int i = 0; i < rows.Count; i++)
        {
            var s = plot.Add.Scatter(new[] { rows[i].M.Fid }, new[] { rows[i].M.Accuracy });
            s.LegendText = rows[i].Name;
            s.MarkerSize = 10;
        }
        plot.Axes.Bottom.Label.Text = "FID (classifier features, lower is better)";
        plot.Axes.Left.Label.Text = "accuracy (higher is better)";
        plot.ShowLegend(Alignment.UpperRight);  // the low-accuracy, high-FID corner holds the noisy modes
        plot.SavePng(path, 640, 420);
    }
}
