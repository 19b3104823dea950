"""What the test NAS scripts share (pyrad 2.6): the RADIUS dictionary
Gatehouse's tests use, and reply codes by name."""

import os

import pyrad.packet
from pyrad.dictionary import Dictionary

DICTIONARY = Dictionary(os.path.join(os.path.dirname(os.path.abspath(__file__)), "dictionary"))

_NAMES = {
    pyrad.packet.AccessAccept: "Access-Accept",
    pyrad.packet.AccessReject: "Access-Reject",
    pyrad.packet.AccessChallenge: "Access-Challenge",
}


def code_name(code):
    """`Access-Accept`, `Access-Reject`, `Access-Challenge`, or the number."""
    return _NAMES.get(code, str(code))
