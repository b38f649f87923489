"""The running sha256 of uploads: continues only an unbroken sequence of chunks."""

import hashlib

from argus.files.running import RunningHashes


def test_running_hash_follows_chunks_and_gives_up_on_a_gap():
    hashes = RunningHashes(limit=2)
    hashes.add("a", 0, b"hello ")
    hashes.add("a", 6, b"world")
    assert hashes.take("a", 11) == hashlib.sha256(b"hello world").hexdigest()
    assert hashes.take("a", 11) is None  # taken once
    hashes.add("b", 0, b"x")
    hashes.add("b", 5, b"y")  # a gap (another process took bytes 1-4): the state is dropped
    assert hashes.take("b", 6) is None
    hashes.add("c", 0, b"1")
    hashes.add("d", 0, b"2")
    hashes.add("e", 0, b"3")  # over the limit: the oldest state goes
    assert hashes.take("c", 1) is None and hashes.take("e", 1) == hashlib.sha256(b"3").hexdigest()
    hashes.add("f", 0, b"abc")
    assert hashes.take("f", 2) is None  # the size does not match what was hashed
