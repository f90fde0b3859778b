"""Container names: Docker's validity rule and generated ``adjective_surname`` names."""

from __future__ import annotations

import random
import re

from .errors import InvalidParameter

VALID_NAME = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")

ADJECTIVES = (
    "admiring", "agitated", "amazing", "blissful", "bold", "brave", "clever", "cool",
    "dazzling", "eager", "elastic", "festive", "focused", "gallant", "happy", "jolly",
    "keen", "loving", "modest", "nifty", "peaceful", "quirky", "relaxed", "serene",
    "sharp", "stoic", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous",
)
SURNAMES = (
    "albattani", "babbage", "bardeen", "curie", "darwin", "dijkstra", "einstein", "euler",
    "fermi", "galileo", "goldberg", "hopper", "hypatia", "johnson", "kepler", "knuth",
    "lamport", "lovelace", "mccarthy", "meitner", "newton", "noether", "pascal", "ritchie",
    "shannon", "thompson", "torvalds", "turing", "wilson", "wozniak", "yalow", "zhukovsky",
)


def validate(name: str) -> str:
    """``name`` or ``/name`` -> ``/name``; InvalidParameter with Docker's text otherwise."""
    if not VALID_NAME.fullmatch(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return "/" + name.lstrip("/")


def generate(retry: int = 0, rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    name = f"{rng.choice(ADJECTIVES)}_{rng.choice(SURNAMES)}"
    if name == "boring_wozniak":  # Steve Wozniak is not boring (moby's rule)
        return generate(retry, rng)
    if retry > 0:
        name += str(rng.randint(0, 9))
    return name
