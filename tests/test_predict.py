"""``ra2 predict`` (``submission.predict.predict_folder``): a valid predictions file whatever the
images and templates, the landmarks, overlays and uncertainty beside it, and outputs that land
together (an error or interrupt before the end leaves every earlier output as it was).

Refused bundles (edited manifests) are in test_bad_inputs_more.py, bad output paths in
test_outputs.py, the uncertainty's review in test_review_uncertainty.py, the container's predictions
in test_container.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenge.catalogue import JOINT_COLUMNS
from challenge.tables import read_table
from ra2.cli import main
from tests.conftest import make_corpus


def ra2(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


# ------------------------------------------------------------------ the bad-input corpus (needs a trained bundle: slow)
@pytest.fixture(scope="module")
def quick_bundle(tmp_path_factory):
    pytest.importorskip("keras")
    root = tmp_path_factory.mktemp("quick")
    assert main(["synth", "--out", str(root / "cohort"), "--train", "6", "--test", "1", "--size-scale", "0.5",
                 "-q"]) == 0
    assert main(["train", "--data", str(root / "cohort" / "train"), "--out", str(root / "bundle"), "--quick"]) == 0
    return root / "bundle"


def predict(capsys, bundle, images, template, out):
    return ra2(capsys, "predict", "--bundle", bundle, "--images", images, "--template", template, "--out", out)


@pytest.mark.slow
def test_predict_writes_a_complete_valid_file_whatever_the_images(corpus, capsys, caplog, tmp_path, quick_bundle):
    out = tmp_path / "predictions.csv"
    code, _, _ = predict(capsys, quick_bundle, corpus.images, corpus.images / "template.csv", out)
    assert code == 0
    for name, words in (("UAB002-LH.jpg", "empty file"), ("UAB002-RH.jpg", "truncated"),
                        ("UAB002-LF.jpg", "not an image file"), ("UAB002-RF.png", "truncated"),
                        ("UAB004-LH.png", "too small"), ("UAB004-RH.png", "above the limit"),
                        ("UAB003-RF", "no image file"), ("UAB005-LH", "no image file")):
        assert any(name in r.getMessage() and words in r.getMessage() for r in caplog.records), name
    code, text, _ = ra2(capsys, "validate", out, "--template", corpus.images / "template.csv")
    assert code == 0, text
    assert list(read_table(out)["Patient_ID"]) == make_corpus.IMAGE_PATIENTS


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["bom", "crlf", "quoted", "trailing_columns"])
def test_predict_reads_templates_with_harmless_quirks(corpus, capsys, tmp_path, quick_bundle, variant):
    text = (corpus.images / "template.csv").read_text()
    lines = text.splitlines()
    template = tmp_path / "template.csv"
    if variant == "bom":
        template.write_bytes(b"\xef\xbb\xbf" + text.encode())
    elif variant == "crlf":
        template.write_bytes(text.replace("\n", "\r\n").encode())
    elif variant == "quoted":
        template.write_text("".join(",".join(f'"{c}"' for c in line.split(",")) + "\n" for line in lines))
    else:
        template.write_text("".join(line + ",,\n" for line in lines))
    out = tmp_path / "predictions.csv"
    code, _, _ = predict(capsys, quick_bundle, corpus.images, template, out)
    assert code == 0
    assert ra2(capsys, "validate", out, "--template", corpus.images / "template.csv")[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("template, words", [
    ("template_empty", "template_empty.csv"),
    ("empty", "empty.csv: the file is empty"),
    ("pred_binary", "pred_binary.csv: not a text CSV file"),
])
def test_predict_with_an_unusable_template_keeps_the_old_output(corpus, capsys, tmp_path, quick_bundle,
                                                               template, words):
    out = tmp_path / "predictions.csv"
    out.write_text("earlier run\n")
    code, _, err = predict(capsys, quick_bundle, corpus.images, getattr(corpus, template), out)
    assert code == 2 and words in err and out.read_text() == "earlier run\n"


# ------------------------------------------------------------------ outputs that land together
def _listing(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``root``, hidden ones included."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["uncertainty file not written", "interrupted while writing the landmarks"])
def test_outputs_land_together_or_leave_every_earlier_one_as_it_was(quick_bundle, tmp_path, monkeypatch, failure):
    """A failure after the predictions were written leaves every earlier output as it was: never new
    predictions beside an earlier run's landmarks, uncertainty or pictures."""
    import challenge.landmarks
    import challenge.outputs
    from submission.predict import predict_folder

    test = quick_bundle.parent / "cohort" / "test"
    out = tmp_path / "out"
    files = {"out_path": out / "pred.csv", "landmarks_out": out / "landmarks.csv", "uncertainty_out": out / "unsure.csv"}
    out.mkdir()
    for path in files.values():
        path.write_text(f"earlier {path.name}\n")
    (out / "overlays").mkdir()
    (out / "overlays" / "earlier.png").write_bytes(b"an earlier picture")
    before = _listing(tmp_path)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("SIGTERM")

    if failure == "uncertainty file not written":
        monkeypatch.setattr(challenge.outputs, "write_csv", no_space)
    else:
        monkeypatch.setattr(challenge.landmarks, "write_landmarks", interrupted)
    folders = {"overlays": out / "overlays", "masks_out": out / "masks"}
    with pytest.raises(OSError if failure == "uncertainty file not written" else KeyboardInterrupt):
        predict_folder(quick_bundle, test, test / "template.csv", progress=False, **files, **folders)
    assert _listing(tmp_path) == before          # byte for byte, no temporary left, no masks folder made

    monkeypatch.undo()
    summary = predict_folder(quick_bundle, test, test / "template.csv", progress=False, **files, **folders,
                             summary_out=out / "summary.json")
    after = _listing(tmp_path)
    assert not [name for name in after if "/." in "/" + name]                    # no temporary left
    assert list(read_table(out / "pred.csv")["Patient_ID"]) == list(read_table(test / "template.csv")["Patient_ID"])
    assert (out / "landmarks.csv").read_text().startswith("image,landmark,x,y")
    assert (out / "unsure.csv").read_text().startswith("Patient_ID,image,name,measure,value\n")
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    pictures = sorted(p.name for p in (out / "overlays").iterdir())
    assert "earlier.png" in pictures and len(pictures) == summary["images"] + 1
    assert len(list((out / "masks").iterdir())) == summary["images"] == 4


# ------------------------------------------------------------------ end to end, and interrupts
@pytest.mark.slow
def test_end_to_end_on_a_tiny_phantom_cohort(tmp_path, caplog):
    """Train (tiny), predict with a corrupt and a missing image, validate, score, landmarks, overlays, SHAP."""
    from challenge.tables import check_scores, errors, read_scores, read_table, read_template
    from evaluator.landmarks import score_landmark_files
    from evaluator.official import score_frames
    from phantoms.cohort import make_cohort
    from ra2.cli import main
    from submission.bundle import Bundle
    from submission.explain import explain_bundle
    from submission.predict import predict_folder
    from submission.profiles import PROFILES
    from submission.train import train_bundle

    make_cohort(tmp_path / "c", 6, 3, seed=3, size_scale=0.3, preset="easy")
    train, test, gold = tmp_path / "c" / "train", tmp_path / "c" / "test", tmp_path / "c" / "gold"
    bundle = train_bundle(train, tmp_path / "bundle", settings=PROFILES["quick"], seed=1, progress=False)
    manifest = Bundle.load(bundle)
    assert manifest.scheme.name == "svh21" and manifest.training["patients"] == 6
    assert set(manifest.blend_weights) == {"erosion", "narrowing"} and manifest.settings.profile == "quick"
    assert len(manifest.training["fingerprint"]) == 64
    assert manifest.scorer_files("hand") == ["scorer_hand_1.keras", "scorer_hand_2.keras"]  # the 2 fold scorers

    template = read_template(test / "template.csv")
    victim, gone = f"{template['Patient_ID'][0]}-LH.jpg", f"{template['Patient_ID'][1]}-RF.jpg"
    (test / victim).write_bytes(b"\xff\xd8 not really a jpeg")
    (test / gone).unlink()
    summary = predict_folder(bundle, test, test / "template.csv", tmp_path / "pred.csv",
                             landmarks_out=tmp_path / "lm.csv", overlays=tmp_path / "ov", progress=False)
    assert summary["patients"] == 3 and summary["images"] == 10
    assert [f["image"] for f in summary["failed"]] == [victim] and summary["missing"] == [gone.replace(".jpg", "")]
    assert victim in caplog.text
    frame = read_table(tmp_path / "pred.csv")
    assert errors(check_scores(frame, template)) == []
    # the totals are the stacker's calibrated ones, not the sums of the joints
    assert manifest.load_stacker().totals_ and manifest.settings.stacker.totals
    assert not np.allclose(frame["Overall_Tol"], frame[list(JOINT_COLUMNS)].sum(axis=1), atol=1e-3)
    assert list(frame.columns) == list(template.columns)
    scores = score_frames(read_scores(tmp_path / "pred.csv"), read_scores(gold / "test.csv", gold=True))
    assert all(np.isfinite(scores[k]) for k in ("sc1", "sc2", "sc3"))
    assert len(list((tmp_path / "ov").glob("*.png"))) == 10
    loc = score_landmark_files(tmp_path / "lm.csv", gold / "landmarks.csv")     # sizes from width/height columns
    assert loc["all"]["n"] == 3 * (2 * 21 + 2 * 6) and loc["all"]["missing"] == 21 + 6

    written = explain_bundle(bundle, tmp_path / "shap")
    same = pd.read_csv(tmp_path / "shap" / "shap_hand_same_side.csv", index_col=0)
    assert same.shape == (31, 31) and (same.to_numpy() >= 0).all()
    full = pd.read_csv(tmp_path / "shap" / "shap_all.csv", index_col=0)    # the limb means as features too
    assert full.shape == (86, 94) and list(full.columns[-2:]) == ["LF_narrowing_mean", "RF_narrowing_mean"]
    assert sum(p.suffix == ".png" for p in written) == 4

    rc = main(["predict", "--bundle", str(bundle), "--images", str(test), "--template", str(test / "template.csv"),
               "--out", str(tmp_path / "cli.csv"), "--no-stack", "--summary", str(tmp_path / "s.json")])
    assert rc == 0 and json.loads((tmp_path / "s.json").read_text())["images"] == 10
    assert errors(check_scores(read_table(tmp_path / "cli.csv"), template)) == []
    assert main(["predict", "--bundle", str(tmp_path), "--images", str(test), "--template",
                 str(test / "template.csv"), "--out", str(tmp_path / "x.csv")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", "--bundle", str(bundle), "--images", str(empty), "--template",
                 str(test / "template.csv"), "--out", str(tmp_path / "x.csv")]) == 2   # no usable image at all
    assert not (tmp_path / "x.csv").exists()
    assert main(["predict", "--bundle", str(bundle), "--images", str(empty), "--template",
                 str(test / "template.csv"), "--out", str(tmp_path / "x.csv"), "--prior-only"]) == 0


def test_an_interrupt_wrapped_by_a_library_stops_predict():
    from submission.predict import _interrupted

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise RuntimeError("graph execution error") from inner
    except RuntimeError as exc:
        assert _interrupted(exc)
    assert _interrupted(ValueError("UnknownError: KeyboardInterrupt: <no message>"))
    assert not _interrupted(ValueError("cannot reshape array"))


class _BrightSpots:
    """A stand-in localizer: each landmark's logit map is the image itself, sharpened, so its heatmap peaks
    sharply on a bright spot over a dark ground and spreads out over a light ground."""

    def __init__(self, landmarks: int):
        self.landmarks = landmarks

    def predict_on_batch(self, x):
        import numpy as np

        return np.repeat(20.0 * x[..., :1], self.landmarks, axis=-1)


def test_the_localizer_reads_a_negative_inverted_and_an_upright_image_as_it_is():
    import numpy as np

    from submission.localize import Localizer

    img = np.full((96, 64), 0.1, np.float32)
    img[40:46, 20:26] = 0.9                                        # one bright "joint" on a dark ground
    localizer = Localizer("hand", 2, size=32, base=4, depth=2, sigma=1.5, steps=0, epochs=1, both_ways=False,
                          model=_BrightSpots(2))
    for stored, flipped in ((img, False), (1 - img, True)):
        found = localizer.predict(stored, "LH", widths=True)
        assert found.inverted == flipped and (found.image is not stored) == flipped
        np.testing.assert_allclose(found.image, img, atol=1e-6)
        x, y = found.points[0]
        assert 19 <= x <= 26 and 39 <= y <= 46 and found.confidence.shape == (2, 2)
