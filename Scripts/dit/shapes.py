"""The synthetic scenes Kiln's default image model is trained on, and their captions.

A scene is a 32×32 RGB picture of one shape (sometimes two) on a plain background, described by
a caption such as "a small red circle at the top left on a blue background". Everything here is a
pure function of its arguments and seeds, so the dataset, the held-out set and the evaluation all
agree on the same vocabulary of colours, shapes, sizes and positions.

Held-out combinations: a (colour, shape, position) triple is held out when
    (colour index + 2 · shape index + position index) % 10 == 0
(indices into COLOURS, SHAPES and POSITIONS below). That removes 29 of the 288 triples from
training, yet every pair (colour, shape), (colour, position) and (shape, position) still occurs in
training with other values of the third, so the held-out captions measure composition of known
parts, not words the model has never seen.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import caption_variation

SIZE = 32  # image side in pixels
SUPERSAMPLING = 4  # sub-pixels per side, averaged for anti-aliased edges

# Saturated, well separated colours (RGB 0–255). Shapes take the first eight; backgrounds any of
# the nine except the shape's own.
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "purple": (150, 60, 200),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
BACKGROUNDS = {**COLOURS, "gray": (128, 128, 128)}
SHAPE_COLOURS = list(COLOURS)
SHAPES = ["circle", "square", "triangle", "star"]
SIZES = {"small": 5.0, "large": 7.5}  # shape radius in pixels
# 3×3 grid: caption phrase → (column, row) centre in pixels.
GRID = (7.0, 16.0, 25.0)
POSITIONS = {
    "at the top left": (GRID[0], GRID[0]), "at the top": (GRID[1], GRID[0]), "at the top right": (GRID[2], GRID[0]),
    "on the left": (GRID[0], GRID[1]), "in the center": (GRID[1], GRID[1]), "on the right": (GRID[2], GRID[1]),
    "at the bottom left": (GRID[0], GRID[2]), "at the bottom": (GRID[1], GRID[2]), "at the bottom right": (GRID[2], GRID[2]),
}
POSITION_NAMES = list(POSITIONS)
JITTER_PIXELS = 1.5  # centre jitter, each axis
JITTER_COLOUR = 12  # per-channel colour jitter


def is_held_out(colour: str, shape: str, position: str) -> bool:
    """Whether this colour × shape × position triple is never shown in training."""
    return (SHAPE_COLOURS.index(colour) + 2 * SHAPES.index(shape) + POSITION_NAMES.index(position)) % 10 == 0


def held_out_triples() -> list[tuple[str, str, str]]:
    return [(c, s, p) for c in SHAPE_COLOURS for s in SHAPES for p in POSITION_NAMES if is_held_out(c, s, p)]


@dataclass(frozen=True)
class ShapeSpec:
    shape: str
    colour: str
    size: str
    position: str

    def phrase(self) -> str:
        return f"a {self.size} {self.colour} {self.shape} {self.position}"


@dataclass(frozen=True)
class Scene:
    shapes: tuple[ShapeSpec, ...]
    background: str

    def caption(self) -> str:
        return " and ".join(s.phrase() for s in self.shapes) + f" on a {self.background} background"


def canonical_caption_words() -> list[str]:
    """Every word a canonical caption (`Scene.caption`) can contain."""
    words = {"a", "and", "on", "background"} | set(BACKGROUNDS) | set(SHAPES) | set(SIZES)
    for phrase in POSITIONS:
        words |= set(phrase.split())
    return sorted(words)


def caption_words() -> list[str]:
    """Every word a caption can contain, canonical or varied (the tokenizer's vocabulary is built
    from these; punctuation is not a word: CLIP splits it off)."""
    words = set(canonical_caption_words()) | set(caption_variation.EXTRA_WORDS)
    for phrases in (*caption_variation.SIZE_WORDS.values(), *caption_variation.BACKGROUND_WORDS.values(),
                    *caption_variation.POSITION_PHRASES.values(), caption_variation.BACKGROUND_PHRASES):
        for phrase in phrases:
            words |= set(phrase.replace("{}", " ").split())
    return sorted(words)


def scene_from_caption(caption: str) -> Scene:
    """The scene a canonical caption (`Scene.caption`) describes: its inverse, for captions cached
    without their scenes."""
    things, background = caption.rsplit(" on a ", 1)
    specs = []
    for phrase in things.split(" and "):
        _, size, colour, shape, position = phrase.split(" ", 4)
        specs.append(ShapeSpec(shape=shape, colour=colour, size=size, position=position))
    return Scene(shapes=tuple(specs), background=background.removesuffix(" background"))


def _polygon_mask(xs: np.ndarray, ys: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule point-in-polygon over arrays of sample points."""
    inside = np.zeros(xs.shape, dtype=bool)
    count = len(vertices)
    for index in range(count):
        x1, y1 = vertices[index]
        x2, y2 = vertices[(index + 1) % count]
        if y1 == y2:
            continue
        crosses = (ys >= min(y1, y2)) & (ys < max(y1, y2))
        x_at = x1 + (ys - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (xs < x_at)
    return inside


def shape_mask(shape: str, cx: float, cy: float, radius: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Boolean coverage of sample points (pixel units) by one shape centred at (cx, cy)."""
    if shape == "circle":
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= radius ** 2
    if shape == "square":
        half = radius * 0.85  # about the circle's area
        return (np.abs(xs - cx) <= half) & (np.abs(ys - cy) <= half)
    if shape == "triangle":  # apex up, filling the radius box
        return _polygon_mask(xs, ys, [(cx, cy - radius), (cx + radius, cy + radius), (cx - radius, cy + radius)])
    if shape == "star":  # five points, apex up
        outer, inner = radius * 1.15, radius * 1.15 * 0.45
        vertices = []
        for k in range(10):
            r = outer if k % 2 == 0 else inner
            angle = -math.pi / 2 + k * math.pi / 5
            vertices.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
        return _polygon_mask(xs, ys, vertices)
    raise ValueError(f"unknown shape {shape}")


_SUB = (np.arange(SIZE * SUPERSAMPLING) + 0.5) / SUPERSAMPLING
SAMPLE_X, SAMPLE_Y = np.meshgrid(_SUB, _SUB)  # [128, 128] sub-pixel centres in pixel units


def _jittered(rgb: tuple[int, int, int], rng: np.random.Generator, jitter: int) -> np.ndarray:
    return np.clip(np.array(rgb, dtype=np.float64) + rng.integers(-jitter, jitter + 1, 3), 0, 255)


def render(scene: Scene, rng: np.random.Generator | None = None) -> np.ndarray:
    """The scene as uint8 [32, 32, 3]. With `rng`, centres and colours are jittered slightly."""
    jitter = rng is not None
    canvas = np.empty((SIZE * SUPERSAMPLING, SIZE * SUPERSAMPLING, 3))
    canvas[:] = _jittered(BACKGROUNDS[scene.background], rng, JITTER_COLOUR) if jitter else BACKGROUNDS[scene.background]
    for spec in scene.shapes:
        cx, cy = POSITIONS[spec.position]
        if jitter:
            cx += rng.uniform(-JITTER_PIXELS, JITTER_PIXELS)
            cy += rng.uniform(-JITTER_PIXELS, JITTER_PIXELS)
        mask = shape_mask(spec.shape, cx, cy, SIZES[spec.size], SAMPLE_X, SAMPLE_Y)
        canvas[mask] = _jittered(COLOURS[spec.colour], rng, JITTER_COLOUR) if jitter else COLOURS[spec.colour]
    pooled = canvas.reshape(SIZE, SUPERSAMPLING, SIZE, SUPERSAMPLING, 3).mean(axis=(1, 3))
    return np.round(pooled).astype(np.uint8)


def random_shape(rng: np.random.Generator, taken_positions: set[str], held_out_allowed: bool) -> ShapeSpec:
    while True:
        spec = ShapeSpec(shape=SHAPES[rng.integers(len(SHAPES))], colour=SHAPE_COLOURS[rng.integers(len(SHAPE_COLOURS))],
                         size=list(SIZES)[rng.integers(len(SIZES))], position=POSITION_NAMES[rng.integers(len(POSITION_NAMES))])
        if spec.position in taken_positions:
            continue
        if not held_out_allowed and is_held_out(spec.colour, spec.shape, spec.position):
            continue
        return spec


def random_scene(rng: np.random.Generator, two_shape_fraction: float, held_out_allowed: bool = False) -> Scene:
    """One scene drawn uniformly over the vocabulary (training draws exclude held-out triples)."""
    first = random_shape(rng, set(), held_out_allowed)
    shapes = [first]
    if rng.random() < two_shape_fraction:
        shapes.append(random_shape(rng, {first.position}, held_out_allowed))
    colours = {s.colour for s in shapes}
    choices = [name for name in BACKGROUNDS if name not in colours]
    return Scene(shapes=tuple(shapes), background=choices[rng.integers(len(choices))])


def scene_from_triple(colour: str, shape: str, position: str, rng: np.random.Generator) -> Scene:
    """A one-shape scene with the given triple and a random size and background."""
    size = list(SIZES)[rng.integers(len(SIZES))]
    choices = [name for name in BACKGROUNDS if name != colour]
    return Scene(shapes=(ShapeSpec(shape, colour, size, position),), background=choices[rng.integers(len(choices))])


def make_dataset(count: int, seed: int, two_shape_fraction: float) -> tuple[np.ndarray, list[str], list[Scene]]:
    """`count` training scenes (no held-out triple anywhere) as uint8 [count, 32, 32, 3] and captions."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, SIZE, SIZE, 3), dtype=np.uint8)
    scenes = []
    for index in range(count):
        scene = random_scene(rng, two_shape_fraction)
        images[index] = render(scene, rng)
        scenes.append(scene)
    return images, [s.caption() for s in scenes], scenes
