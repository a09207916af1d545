"""`mmcl.features.assemble` called directly, on feature tables written in the test."""

import json
from dataclasses import asdict

import numpy as np
import pytest

from mmcl.data.dataset import DataError
from mmcl.data.loader import load_dataset
from mmcl.features.assemble import assemble, parse_tables
from mmcl.features.audio import KIND, AudioParams


def _audio_table(folder, ids, dim=4, steps=5, seed=0):
    """An audio feature table as `mmcl extract audio` writes it, with known contents."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    lengths = rng.integers(1, steps + 1, len(ids))
    feats = rng.normal(size=(len(ids), steps, dim)).astype(np.float32)
    feats[np.arange(steps)[None, :] >= lengths[:, None]] = 0
    np.save(folder / "ids.npy", np.asarray(ids, dtype=str))
    np.save(folder / "features.npy", feats)
    np.save(folder / "lengths.npy", lengths.astype(np.int64))
    meta = {"kind": KIND, **asdict(AudioParams()), "dim": dim, "count": len(ids)}
    meta["content_hash"] = f"h-{seed}"
    (folder / "manifest.json").write_text(json.dumps(meta))
    return feats, lengths


def test_parse_tables():
    assert parse_tables(["text=feat/t", "audio=a=b"]) == {"text": "feat/t", "audio": "a=b"}
    for bad in ("text", "=x", "text="):
        with pytest.raises(DataError, match="MODALITY=FOLDER"):
            parse_tables([bad])


def test_assemble_joins_rows_by_id_and_keeps_the_csv_split(tmp_path):
    ids = [f"u{i}" for i in range(12)]
    feats, lengths = _audio_table(tmp_path / "audio", ids)
    # the CSV lists the ids in another order than the table, with its own split
    order = list(reversed(range(12)))
    split = ["train"] * 6 + ["valid"] * 3 + ["test"] * 3
    lines = ["id,label,split"] + [
        f"{ids[i]},{(i - 6) / 3:.3f},{s}" for i, s in zip(order, split, strict=True)
    ]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    ds = assemble(tmp_path / "labels.csv", {"audio": tmp_path / "audio"}, tmp_path / "out")
    assert {s: len(sp) for s, sp in ds.splits.items()} == {"train": 6, "valid": 3, "test": 3}
    back = load_dataset(tmp_path / "out")
    test = back.splits["test"]
    for row, sample_id in enumerate(test.ids):
        i = ids.index(sample_id)
        n = lengths[i]
        np.testing.assert_array_equal(test.features["audio"][row, :n], feats[i, :n])
        assert test.lengths["audio"][row] == n
        assert test.labels[row] == pytest.approx((i - 6) / 3, abs=1e-3)
    assert back.extraction["audio"]["kind"] == "audio"


def test_assemble_without_a_split_column_makes_a_seeded_split(tmp_path):
    ids = [f"u{i}" for i in range(40)]
    _audio_table(tmp_path / "audio", ids)
    (tmp_path / "labels.csv").write_text(
        "id,label\n" + "".join(f"{i},{k % 5 - 2}\n" for k, i in enumerate(ids))
    )
    a = assemble(tmp_path / "labels.csv", {"audio": tmp_path / "audio"}, tmp_path / "a", seed=3)
    b = assemble(tmp_path / "labels.csv", {"audio": tmp_path / "audio"}, tmp_path / "b", seed=3)
    assert sum(len(sp) for sp in a.splits.values()) == 40
    for s in a.splits:
        assert list(a.splits[s].ids) == list(b.splits[s].ids)
    assert len(a.splits["train"]) == 28  # 70 %


def test_a_missing_labels_file_is_a_data_error(tmp_path):
    _audio_table(tmp_path / "audio", ["a", "b"])
    with pytest.raises(DataError, match="--labels .*missing.csv: no such file"):
        assemble(tmp_path / "missing.csv", {"audio": tmp_path / "audio"}, tmp_path / "out")


def test_ids_from_two_columns_join_the_feature_table(tmp_path):
    ids = [f"v{v}_{c}" for v in range(4) for c in range(5)]  # video_clip, as a table's ids
    _audio_table(tmp_path / "audio", ids)
    lines = ["video_id,clip_id,label"] + [
        f"v{v},{c},{(v - c) / 2}" for v in range(4) for c in range(5)
    ]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    tables = {"audio": tmp_path / "audio"}
    ds = assemble(tmp_path / "labels.csv", tables, tmp_path / "out", id_col="video_id,clip_id")
    got = sorted(i for sp in ds.splits.values() for i in sp.ids)
    assert got == sorted(ids)


def test_duplicate_ids_are_counted_with_examples(tmp_path):
    _audio_table(tmp_path / "audio", ["v0", "v1"])
    rows = ["video_id,clip_id,label", "v0,1,0.5", "v0,2,0.1", "v0,3,0.2", "v1,1,1.0", "v1,2,0"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"2 ids occur more than once \(5 rows\), e.g. 'v0' x3"):
        assemble(tmp_path / "labels.csv", {"audio": tmp_path / "audio"}, tmp_path / "o", "video_id")


def test_labels_that_are_not_a_csv_name_the_file(tmp_path):
    _audio_table(tmp_path / "audio", ["a"])
    (tmp_path / "labels.pkl").write_bytes(b"\x80\x04\x95\xff\xfe\x00binary")
    with pytest.raises(DataError, match=r"--labels .*labels.pkl: not a CSV text file"):
        assemble(tmp_path / "labels.pkl", {"audio": tmp_path / "audio"}, tmp_path / "o")
    (tmp_path / "other.csv").write_text("name,score\nx,1\n")
    with pytest.raises(DataError, match=r"no column\(s\) \['id', 'label'\]; columns are"):
        assemble(tmp_path / "other.csv", {"audio": tmp_path / "audio"}, tmp_path / "o")


def test_a_label_that_is_not_a_number_names_its_row_and_value(tmp_path):
    _audio_table(tmp_path / "audio", ["a", "b", "c"])
    (tmp_path / "labels.csv").write_text("id,label\na,0.5\nb,positive\nc,1\n")
    with pytest.raises(DataError, match=r"column 'label', data row 2, holds 'positive'"):
        assemble(tmp_path / "labels.csv", {"audio": tmp_path / "audio"}, tmp_path / "o")
    (tmp_path / "classes.csv").write_text("id,label\na,0\nb,1.5\nc,1\n")
    with pytest.raises(DataError, match=r"data row 2, holds '1.5', not a whole number"):
        assemble(
            tmp_path / "classes.csv",
            {"audio": tmp_path / "audio"},
            tmp_path / "o",
            task="classification",
        )
    assert not (tmp_path / "o").exists()


def _twenty(tmp_path):
    ids = [f"u{i}" for i in range(20)]
    feats, _ = _audio_table(tmp_path / "feat" / "audio", ids, seed=4)
    meta = json.loads((tmp_path / "feat" / "audio" / "manifest.json").read_text())
    meta["content_hash"] = "h1"
    (tmp_path / "feat" / "audio" / "manifest.json").write_text(json.dumps(meta))
    lines = ["id,label"] + [f"{i},{k % 5 - 2}" for k, i in enumerate(ids)]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return ids, feats


def test_assemble_stores_the_features_once_and_copy_makes_a_self_contained_folder(tmp_path):
    ids, feats = _twenty(tmp_path)
    tables = {"audio": tmp_path / "feat" / "audio"}
    assemble(tmp_path / "labels.csv", tables, tmp_path / "data" / "ref", seed=1)
    assemble(tmp_path / "labels.csv", tables, tmp_path / "data" / "copy", seed=1, copy=True)
    ref, copy = tmp_path / "data" / "ref", tmp_path / "data" / "copy"
    assert not list(ref.rglob("features.*.npy")) and len(list(ref.rglob("rows.audio.npy"))) == 3
    assert len(list(copy.rglob("features.audio.npy"))) == 3 and not list(copy.rglob("rows.*"))
    manifest = json.loads((ref / "manifest.json").read_text())
    assert manifest["tables"] == {"audio": {"path": "../../feat/audio", "content_hash": "h1"}}
    a, b = load_dataset(ref), load_dataset(copy)
    for s in a.splits:
        assert list(a.splits[s].ids) == list(b.splits[s].ids)
        got = np.asarray(a.splits[s].features["audio"])
        np.testing.assert_array_equal(got, np.asarray(b.splits[s].features["audio"]))
        rows = [ids.index(i) for i in a.splits[s].ids]
        np.testing.assert_array_equal(got, feats[rows])
        # indexing gathers only the rows asked for, in the order asked
        np.testing.assert_array_equal(a.splits[s].features["audio"][[2, 0]], feats[rows][[2, 0]])
    # the dataset and its tables moved together still read; the tables moved apart do not
    (tmp_path / "elsewhere").mkdir()
    for name in ("feat", "data"):
        (tmp_path / name).rename(tmp_path / "elsewhere" / name)
    assert len(load_dataset(tmp_path / "elsewhere" / "data" / "ref").splits["train"]) == 14
    (tmp_path / "elsewhere" / "feat").rename(tmp_path / "feat")
    with pytest.raises(DataError, match="refers to the feature table .*missing or has changed"):
        load_dataset(tmp_path / "elsewhere" / "data" / "ref")
    assert len(load_dataset(tmp_path / "elsewhere" / "data" / "copy").splits["train"]) == 14


def test_a_table_extracted_again_is_refused_by_the_dataset_that_refers_to_it(tmp_path):
    _twenty(tmp_path)
    tables = {"audio": tmp_path / "feat" / "audio"}
    assemble(tmp_path / "labels.csv", tables, tmp_path / "data" / "ref")
    manifest = tmp_path / "feat" / "audio" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"h1"', '"h2"'))
    with pytest.raises(DataError, match="missing or has changed since the dataset was assembled"):
        load_dataset(tmp_path / "data" / "ref")
    # same content hash but other ids at the recorded rows (a table edited by hand)
    manifest.write_text(manifest.read_text().replace('"h2"', '"h1"'))
    ids = np.load(tmp_path / "feat" / "audio" / "ids.npy")
    np.save(tmp_path / "feat" / "audio" / "ids.npy", ids[::-1])
    with pytest.raises(DataError, match="no longer holds this split's ids"):
        load_dataset(tmp_path / "data" / "ref")
