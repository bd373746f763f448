"""Masking of ID numbers for display (PIPL): keep the region and the last four characters.

>>> mask_id("11010519491231002X")
'110105********002X'
>>> mask_id("12345")
'*****'
"""

from __future__ import annotations


def mask_id(value: object) -> object:
    """Hide the birth date and sequence of an ID number; short or odd values are hidden whole."""
    if not isinstance(value, str):
        return value
    n = len(value)
    if n >= 15:
        return value[:6] + "*" * (n - 10) + value[-4:]
    return "*" * n
