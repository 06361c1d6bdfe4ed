"""Plain RSS 2.0 / Atom outlets: nothing special, the defaults apply."""

from connectors.outlets import GENERIC

QUIRKS = GENERIC
