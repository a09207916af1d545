import numpy as np
import pytest

from mmcl.evaluation.metrics import evaluate


def test_mosi_hand_case_zero_handling_and_clipping():
    labels = np.array([2.0, -1.0, 0.0, 3.0, -2.6, 0.4])
    preds = np.array([1.6, 0.0, -0.3, 2.5, -3.4, 0.0])
    m = evaluate("mosi", preds, labels)
    # Has0: truth >= 0 -> [1,0,1,1,0,1]; preds >= 0 (0 counts as non-negative) -> [1,1,0,1,0,1]
    assert m["Has0_acc_2"] == pytest.approx(4 / 6)
    # Non0: drop label 0 (index 2); truth > 0 -> [1,0,1,0,1];
    # preds > 0 (0 is negative) -> [1,0,1,0,0]
    assert m["Non0_acc_2"] == pytest.approx(4 / 5)
    # Acc7: round(clip(x, -3, 3)), half to even: preds [2, 0, -0, 2(2.5->2), -3, 0]
    # labels [2, -1, 0, 3, -3(-2.6), 0(0.4)] -> matches at 0, 2, 4, 5
    assert m["Mult_acc_7"] == pytest.approx(4 / 6)
    # Acc5: clip to +-2: preds [2(1.6), 0, -0, 2, -2, 0]; labels [2, -1, 0, 2, -2, 0] -> 5 match
    assert m["Mult_acc_5"] == pytest.approx(5 / 6)
    assert m["MAE"] == pytest.approx(np.mean([0.4, 1.0, 0.3, 0.5, 0.8, 0.4]))
    assert m["Corr"] == pytest.approx(np.corrcoef(preds, labels)[0, 1])


def test_mosi_weighted_f1_by_hand():
    labels = np.array([1.0, 1.0, 1.0, -1.0])
    preds = np.array([1.0, 1.0, -1.0, -1.0])
    m = evaluate("mosei", preds, labels)
    # class 1 (support 3): p=1, r=2/3 -> f1 0.8 ; class 0 (support 1): p=0.5, r=1 -> f1 2/3
    assert m["Non0_F1_score"] == pytest.approx((3 * 0.8 + 1 * 2 / 3) / 4)
    assert m["Has0_F1_score"] == pytest.approx((3 * 0.8 + 1 * 2 / 3) / 4)


def test_sims_intervals_zero_is_negative():
    labels = np.array([0.0, 0.1, 0.12, -0.1, 0.7, 1.4])
    preds = np.array([0.05, 0.1, 0.5, -0.5, 0.8, 0.9])
    m = evaluate("sims", preds, labels)
    # Acc2 (0 negative): labels [0,1,1,0,1,1]; preds [1,1,1,0,1,1] -> 5/6
    assert m["Mult_acc_2"] == pytest.approx(5 / 6)
    # Acc3 edges -0.1, 0.1 right-closed: labels [1,1,2,0,2,2]; preds [1,1,2,0,2,2] -> 6/6
    assert m["Mult_acc_3"] == pytest.approx(1.0)
    # Acc5 edges -.7,-.1,.1,.7: labels [2,2,3,1,3,4(1.4 clipped to 1)]; preds [2,2,3,1,4,4] -> 5/6
    assert m["Mult_acc_5"] == pytest.approx(5 / 6)
    # MAE on clipped values: 1.4 -> 1.0
    assert m["MAE"] == pytest.approx(np.mean([0.05, 0.0, 0.38, 0.4, 0.1, 0.1]))


def test_iemocap_per_emotion_and_means():
    labels = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    logits = np.zeros((4, 4, 2))
    logits[:, :, 0] = 1.0  # predict "not" everywhere...
    logits[0, 0] = [0.0, 1.0]  # ...except Neutral for sample 0 (right)
    logits[1, 2] = [0.0, 1.0]  # and Sad for sample 1 (wrong)
    m = evaluate("iemocap", logits, labels)
    assert m["Neutral_acc"] == 1.0 and m["Neutral_F1"] == 1.0
    assert m["Happy_acc"] == 0.75
    assert m["Sad_acc"] == 0.5
    # Happy: truth [0,1,0,0], preds all 0: class0 f1 = 2*.75*1/1.75 = 6/7 (support 3), class1 0
    assert m["Happy_F1"] == pytest.approx(3 / 4 * 6 / 7)
    assert m["Mean_acc"] == pytest.approx((1 + 0.75 + 0.5 + 0.75) / 4)
    onehot = np.eye(2)[labels]
    assert evaluate("iemocap", logits, onehot) == m


def test_classification_and_regression():
    m = evaluate(
        "classification", np.array([[2, 1, 0], [0, 3, 1], [0, 0, 1], [1, 0, 0]]), [0, 1, 1, 0]
    )
    assert m["Acc"] == 0.75
    r = evaluate("regression", [1.0, 2.0, 4.0], [1.0, 3.0, 3.0])
    assert r["MAE"] == pytest.approx(2 / 3)
    assert r["RMSE"] == pytest.approx(np.sqrt(2 / 3))


def test_constant_predictions_give_nan_corr_and_bad_inputs_raise():
    assert np.isnan(evaluate("mosi", np.zeros(4), np.array([1.0, -1.0, 2.0, 0.5]))["Corr"])
    with pytest.raises(ValueError, match="unknown metric task"):
        evaluate("mosii", [1.0], [1.0])
    with pytest.raises(ValueError, match="2 predictions for 1 labels"):
        evaluate("mosi", [1.0, 2.0], [1.0])
