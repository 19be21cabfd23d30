"""The varied captions kiln-shapes-dit trains on (Scripts/dit/caption_variation.py) say only what
their scene shows, name what `varied_caption_naming` says they name, and fit the text encoder."""
from __future__ import annotations

import os
import re
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Scripts", "dit"))
import caption_variation  # noqa: E402
import shapes  # noqa: E402

DRAWS = 3000


def words(caption: str) -> list[str]:
    """CLIP's view of a caption: lower case, punctuation split off."""
    return re.findall(r"[a-z]+|[^\sa-z]", caption.lower())


def scenes_and_captions():
    rng = np.random.default_rng(7)
    for _ in range(DRAWS):
        scene = shapes.random_scene(rng, 0.15)
        caption, named = caption_variation.varied_caption_naming(scene, rng)
        yield scene, caption, named


def test_every_word_is_in_the_vocabulary_and_captions_fit_32_tokens():
    vocabulary = set(shapes.caption_words())
    for _, caption, _ in scenes_and_captions():
        tokens = words(caption)
        assert {t for t in tokens if t.isalpha()} <= vocabulary, caption
        assert len(tokens) + 2 <= 32, caption  # one token per word and mark, plus start and end


def test_captions_name_the_scene_and_nothing_else():
    seen_plain = seen_reordered = 0
    for scene, caption, named in scenes_and_captions():
        text = " ".join(words(caption))
        for spec in scene.shapes:
            assert f"{spec.colour} {spec.shape}" in text, caption
            sizes = caption_variation.SIZE_WORDS[spec.size]
            assert any(f" {size} {spec.colour} " in f" {text} " for size in sizes) == ("size" in named), caption
        background_words = caption_variation.BACKGROUND_WORDS.get(scene.background, (scene.background,))
        shape_colours = {spec.colour for spec in scene.shapes}
        if scene.background not in shape_colours:  # a colour named only as the background
            assert any(word in text.split() for word in background_words) == ("background" in named), caption
        seen_plain += named == {"background"}
        seen_reordered += text.startswith(("on ", "against ", "with "))
    # A fifth of captions are plain; some put the background first.
    assert 0.15 * DRAWS < seen_plain < 0.3 * DRAWS
    assert seen_reordered > 0.03 * DRAWS


def test_plain_caption_and_canonical_caption_round_trip():
    rng = np.random.default_rng(3)
    for _ in range(500):
        scene = shapes.random_scene(rng, 0.3)
        assert shapes.scene_from_caption(scene.caption()) == scene
    scene = shapes.Scene((shapes.ShapeSpec("circle", "orange", "small", "in the center"),), "blue")
    assert caption_variation.plain_caption(scene) == "an orange circle on a blue background"
