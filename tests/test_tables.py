"""Console tables fit in 100 columns (the benchmark's)."""

from earshot.agents.benchmarks.run import format_results


def test_the_benchmark_table_fits_in_100_columns_and_keeps_every_detail():
    rows = [{"name": "a benchmark whose name is far longer than its column allows for", "value": 1234.5,
             "unit": "steps/s", "reference_value": 0.5, "reference_unit": "ms", "ratio": 2469.0,
             "reference": "the raw kernels on the same steps", "detail": "word " * 60},
            {"name": "short", "value": 1.0, "unit": "ms", "reference_value": None, "reference_unit": "",
             "ratio": None, "reference": "none", "detail": "x"}]
    text = format_results(rows)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.count("word") == 60 and "a benchmark whose name" in text and "n/a" in text
