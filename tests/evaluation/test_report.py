from mmcl.evaluation.report import markdown_table, summarize


def test_table_shows_sample_std_over_seeds_and_no_spread_for_one_seed():
    two = summarize([{"MAE": 1.0}, {"MAE": 2.0}])
    one = summarize([{"MAE": 1.5}])
    table = markdown_table({"two seeds": two, "one seed": one})
    assert "| two seeds | 1.5000 ± 0.7071 |" in table  # sample std (ddof=1)
    assert "| one seed | 1.5000 |" in table
