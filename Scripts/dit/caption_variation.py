"""Captions as people write them, for the synthetic shape scenes of `shapes.py`.

The canonical caption ("a small red circle at the top left on a blue background") names every
attribute in one fixed order. People leave attributes out ("a red circle on a blue background"),
reorder ("on a blue background, a small red circle at the top left"), use synonyms (centre, middle,
upper left, big, grey), capitals and punctuation. `varied_caption` draws such a caption for a scene;
what it leaves out the scene still has (a random value, as drawn), so a model trained on these learns
that an unnamed attribute may be anything.

This module knows only words; it reads a scene's `shapes` (each with `size`, `colour`, `shape`,
`position`) and `background`, so `shapes.py` can import its word lists without a cycle.
"""
from __future__ import annotations

import numpy as np

# Canonical word → the ways to say it; the canonical word comes first.
SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
BACKGROUND_WORDS = {"gray": ("gray", "grey")}
POSITION_PHRASES = {
    "at the top left": ("at the top left", "in the top left", "at the upper left", "in the top left corner",
                        "in the upper left corner", "top left"),
    "at the top": ("at the top", "at the top center", "at the top centre", "at the top middle", "on top"),
    "at the top right": ("at the top right", "in the top right", "at the upper right", "in the top right corner",
                         "in the upper right corner", "top right"),
    "on the left": ("on the left", "at the left", "on the left side", "in the middle left", "left"),
    "in the center": ("in the center", "in the centre", "in the middle", "at the center", "centered", "center"),
    "on the right": ("on the right", "at the right", "on the right side", "in the middle right", "right"),
    "at the bottom left": ("at the bottom left", "in the bottom left", "at the lower left", "in the bottom left corner",
                           "in the lower left corner", "bottom left"),
    "at the bottom": ("at the bottom", "at the bottom center", "at the bottom centre", "at the bottom middle"),
    "at the bottom right": ("at the bottom right", "in the bottom right", "at the lower right",
                            "in the bottom right corner", "in the lower right corner", "bottom right"),
}
# "{}" is the background's colour word.
BACKGROUND_PHRASES = ("on a {} background", "on a {} background", "against a {} background", "on {}",
                      "with a {} background", "on a plain {} background")
# Words only some sentence forms below use.
EXTRA_WORDS = ("an", "with", "there", "is", "one", "picture", "of", "image", "plain")

# How often each attribute is left out of a varied caption, and how often all three are (a plain
# caption: colour, shape and background only, which is how the failing captions read).
LEAVE_OUT = {"size": 0.4, "position": 0.4, "background": 0.25}
PLAIN_SHARE = 0.2


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _article(next_word: str) -> str:
    return "an" if next_word[0] in "aeiou" else "a"


def shape_phrase(spec, rng: np.random.Generator, size: bool, position: bool) -> str:
    """"a small red circle at the top left", with synonyms, and size / position when asked."""
    words = [_pick(rng, SIZE_WORDS[spec.size])] if size else []
    words += [spec.colour, spec.shape]
    phrase = f"{_article(words[0])} {' '.join(words)}"
    if position:
        place = _pick(rng, POSITION_PHRASES[spec.position])
        # A bare place ("top left", "center") reads as a prefix: "a red circle, top left".
        phrase += f", {place}" if place.split()[0] not in ("at", "in", "on") else f" {place}"
    return phrase


def background_phrase(background: str, rng: np.random.Generator) -> str:
    return _pick(rng, BACKGROUND_PHRASES).format(_pick(rng, BACKGROUND_WORDS.get(background, (background,))))


def varied_caption(scene, rng: np.random.Generator) -> str:
    """One caption for `scene` as a person might write it (see the module's documentation)."""
    return varied_caption_naming(scene, rng)[0]


def varied_caption_naming(scene, rng: np.random.Generator) -> tuple[str, set[str]]:
    """A varied caption and the attributes it names (of "size", "position", "background"; colour
    and shape are always named), so an evaluation judges only what was asked for."""
    plain = rng.random() < PLAIN_SHARE
    size = not plain and rng.random() >= LEAVE_OUT["size"]
    position = not plain and rng.random() >= LEAVE_OUT["position"]
    background = plain or rng.random() >= LEAVE_OUT["background"]
    things = " and ".join(shape_phrase(spec, rng, size, position) for spec in scene.shapes)
    if rng.random() < 0.1:
        lead = _pick(rng, ("there is ", "a picture of ", "an image of ", "one "))
        # "one" replaces the first article: "one red circle …".
        things = lead + (things.split(" ", 1)[1] if lead == "one " else things)
    named = {name for name, on in (("size", size), ("position", position), ("background", background)) if on}
    if not background:
        return _typeset(things, rng), named
    ground = background_phrase(scene.background, rng)
    form = int(rng.integers(5))
    if form == 0:
        caption = f"{ground}, {things}"
    elif form == 1 and ground.startswith("on a ") and things.startswith(("a ", "an ")):
        rest = ground[len("on a "):]
        caption = f"{_article(rest)} {rest} with {things}"
    elif form == 2:
        caption = f"{things}, {ground}"
    else:
        caption = f"{things} {ground}"
    return _typeset(caption, rng), named


def _typeset(caption: str, rng: np.random.Generator) -> str:
    """Capitals and a full stop now and then (CLIP's tokenizer lower-cases, so capitals cost the
    model nothing, but the server must take them)."""
    draw = rng.random()
    if draw < 0.3:
        caption = caption[0].upper() + caption[1:]
    elif draw < 0.38:
        caption = caption.title()
    elif draw < 0.42:
        caption = caption.upper()
    if rng.random() < 0.3:
        caption += "."
    return caption


def plain_caption(scene) -> str:
    """Colour, shape and background only, as in "a red circle on a blue background"."""
    things = " and ".join(f"{_article(spec.colour)} {spec.colour} {spec.shape}" for spec in scene.shapes)
    return f"{things} on a {scene.background} background"
