"""Files over real HTTP on a real SQLite file: workspaces, confinement, quotas, resumable upload."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time

import httpx

from argus.services import files as file_service
from tests.api.conftest import World


def _put(world: World, who: str, path: str, data: bytes, **params):  # noqa: ANN003, ANN202
    params = {"path": path, **params}
    return world.client(who).put("/v1/fs/content", params=params, content=data)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_creating_users_and_teams_creates_their_workspaces(world: World):
    root = world.client("root")
    team = root.post("/v1/teams", json={"name": "green"})
    assert team.status_code == 201, team.text
    user = root.post("/v1/users", json={"name": "gina", "team": "green", "role": "user"})
    assert user.status_code == 201, user.text
    ws = world.settings.shared_root / "users" / "gina"
    tdir = world.settings.shared_root / "teams" / "green"
    assert user.json()["workspace"] == str(ws.resolve())
    assert stat.S_IMODE(ws.stat().st_mode) == 0o750
    assert stat.S_IMODE(tdir.stat().st_mode) == 0o2770
    assert stat.S_IMODE((world.settings.shared_root / "users").stat().st_mode) == 0o711


def test_upload_list_download_delete_round_trip(world: World):
    alice = world.client("alice")
    data = os.urandom(200_000)
    put = _put(world, "alice", "/data/sample.bin", data, sha256=_sha(data))
    assert put.status_code == 200, put.text
    assert put.json() == {"path": "/data/sample.bin", "offset": len(data), "complete": True,
                          "sha256": _sha(data), "size": len(data)}
    on_disk = world.settings.shared_root / "users" / "alice" / "data" / "sample.bin"
    assert on_disk.read_bytes() == data
    assert stat.S_IMODE(on_disk.stat().st_mode) == 0o640
    names = [i["name"] for i in alice.get("/v1/fs/list", params={"path": "/"}).json()["items"]]
    assert "data" in names and "team" in names
    got = alice.get("/v1/fs/content", params={"path": "/data/sample.bin"})
    assert got.status_code == 200 and got.content == data
    st = alice.get("/v1/fs/stat", params={"path": "/data/sample.bin", "sha256": "true"}).json()
    assert st["sha256"] == _sha(data) and st["size"] == len(data)
    gone = alice.delete("/v1/fs/content", params={"path": "/data", "recursive": "true"})
    assert gone.status_code == 200 and gone.json()["bytes"] == len(data)
    assert not on_disk.exists()
    trail = world.client("audrey").get("/v1/audit", params={"user": "alice"}).text
    assert '"path": "/data/sample.bin"' in trail and '"sha256": "' + _sha(data) in trail
    assert '"recursive": true' in trail


def test_team_directory_is_shared_within_the_team_only(world: World):
    assert _put(world, "alice", "/team/shared.txt", b"red data").status_code == 200
    bob = world.client("bob").get("/v1/fs/content", params={"path": "/team/shared.txt"})
    assert bob.content == b"red data"
    carol = world.client("carol")  # team blue: her /team is blue's directory
    assert carol.get("/v1/fs/content", params={"path": "/team/shared.txt"}).status_code == 404
    names = [i["name"] for i in carol.get("/v1/fs/list", params={"path": "/team"}).json()["items"]]
    assert names == []
    assert (world.settings.shared_root / "teams" / "red" / "shared.txt").read_bytes() == b"red data"


def test_path_escapes_are_refused(world: World, tmp_path):
    alice = world.client("alice")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    ws = world.settings.shared_root / "users" / "alice"
    (ws / "out").symlink_to(tmp_path)                       # a directory link out
    (ws / "peek.txt").symlink_to(secret)                      # a file link out
    (ws / "bob").symlink_to(world.settings.shared_root / "users" / "bob")
    refused = {
        "../bob/code": 403, "/../../etc/passwd": 403, "/team/../../blue": 403,
        "/out/secret.txt": 403, "/bob/code": 403, "/peek.txt": 403,
    }
    for path, status in refused.items():
        got = alice.get("/v1/fs/content", params={"path": path})
        assert got.status_code == status, (path, got.text)
        assert got.json()["error"]["code"] == "path_refused"
        wrote = _put(world, "alice", path, b"x")
        assert wrote.status_code == status, (path, wrote.text)
    # An absolute host path is read inside the view, never on the host.
    assert alice.get("/v1/fs/content", params={"path": str(secret)}).status_code == 404
    assert alice.get("/v1/fs/content", params={"path": "/etc/passwd"}).status_code == 404
    listed = alice.get("/v1/fs/list", params={"path": "/out"}).json()  # the link, not its target
    assert listed["type"] == "link" and [i["name"] for i in listed["items"]] == ["out"]
    assert secret.read_text() == "outside"
    # Deleting the link removes the link, never what it points at.
    assert alice.delete("/v1/fs/content", params={"path": "/out"}).status_code == 200
    assert secret.exists()
    denied = world.client("audrey").get("/v1/audit", params={"user": "alice"}).text
    assert '"outcome": "denied"' in denied


def test_storage_quota_is_enforced_on_upload(world: World):
    root, alice = world.client("root"), world.client("alice")
    assert _put(world, "bob", "/already.bin", b"b" * 3000).status_code == 200  # bob is red too
    set_quota = root.put("/v1/teams/red/storage", json={"quota_bytes": 5000})
    assert set_quota.status_code == 200, set_quota.text
    assert set_quota.json()["used_bytes"] == 3000
    assert alice.put("/v1/teams/red/storage", json={"quota_bytes": None}).status_code == 403
    over = _put(world, "alice", "/big.bin", b"a" * 2500)
    assert over.status_code == 413, over.text
    err = over.json()["error"]
    assert err["code"] == "quota_exceeded" and "team 'red'" in err["message"]
    assert not (world.settings.shared_root / "users" / "alice" / "big.bin").exists()
    assert _put(world, "alice", "/small.bin", b"a" * 1500).status_code == 200
    team = root.get("/v1/teams/red").json()["storage"]
    assert team["quota_bytes"] == 5000 and team["used_bytes"] == 4500
    assert _put(world, "carol", "/blue.bin", b"c" * 9000).status_code == 200  # blue: no quota


def test_resumable_upload_interrupted_and_resumed(world: World):
    alice = world.client("alice")
    data = os.urandom(300_000)
    first = _put(world, "alice", "/ckpt/model.bin", data[:100_000], offset=0, final="false")
    assert first.json() == {"path": "/ckpt/model.bin", "offset": 100_000, "complete": False}
    assert alice.get("/v1/fs/stat", params={"path": "/ckpt/model.bin"}).status_code == 404
    # The client went away; it asks where to resume.
    resume = alice.get("/v1/fs/upload", params={"path": "/ckpt/model.bin"}).json()
    assert resume["offset"] == 100_000
    wrong = _put(world, "alice", "/ckpt/model.bin", data[50_000:], offset=50_000)
    assert wrong.status_code == 409 and wrong.json()["error"]["details"][0]["offset"] == 100_000
    bad = _put(world, "alice", "/ckpt/model.bin", data[100_000:], offset=100_000, sha256="0" * 64)
    assert bad.status_code == 400 and "discarded" in bad.json()["error"]["message"]
    assert alice.get("/v1/fs/upload", params={"path": "/ckpt/model.bin"}).json()["offset"] == 0
    for start in range(0, len(data), 120_000):
        chunk = data[start:start + 120_000]
        last = start + len(chunk) == len(data)
        got = _put(world, "alice", "/ckpt/model.bin", chunk, offset=start,
                   final="true" if last else "false", sha256=_sha(data) if last else None)
        assert got.status_code == 200, got.text
    assert got.json()["complete"] and got.json()["sha256"] == _sha(data)
    assert alice.get("/v1/fs/content", params={"path": "/ckpt/model.bin"}).content == data


def test_chunk_size_is_bounded(world: World):
    world.settings.upload_chunk_max_bytes = 65536
    too_big = _put(world, "alice", "/x.bin", b"x" * 70_000)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "too_large"


def test_a_viewer_reads_but_does_not_write(world: World):
    assert _put(world, "vera", "/mine.txt", b"x").status_code == 403
    assert world.client("vera").get("/v1/fs/list", params={"path": "/"}).status_code == 200
    assert world.client("audrey").get("/v1/fs/list").status_code == 403


def test_snapshots_are_immutable_through_the_file_api(world: World):
    snap = world.settings.shared_root / "users" / "alice" / ".argus" / "snapshots" / ("a" * 64)
    snap.mkdir(parents=True)
    (snap / "train.py").write_text("print(1)")
    wrote = _put(world, "alice", f"/.argus/snapshots/{'a' * 64}/train.py", b"evil")
    assert wrote.status_code == 403 and "immutable code snapshots" in wrote.json()["error"]["message"]
    rm = world.client("alice").delete("/v1/fs/content", params={"path": "/.argus/snapshots",
                                                                "recursive": "true"})
    assert rm.status_code == 403
    for path in ("/.argus", "/.argus/snapshots"):  # nor by removing or moving what holds them
        assert world.client("alice").delete("/v1/fs/content", params={
            "path": path, "recursive": "true"}).status_code == 403
        assert world.client("alice").post("/v1/fs/rename", params={
            "src": path, "dst": "/moved"}).status_code == 403
    assert (snap / "train.py").read_text() == "print(1)"


def test_a_listing_is_bounded(world: World, monkeypatch):
    many = world.settings.shared_root / "users" / "alice" / "many"
    many.mkdir()
    for i in range(5):
        (many / f"f{i}").write_text("x")
    monkeypatch.setattr(file_service, "MAX_LIST", 3)
    listed = world.client("alice").get("/v1/fs/list", params={"path": "/many"}).json()
    assert [i["name"] for i in listed["items"]] == ["f0", "f1", "f2"] and listed["truncated"]


def test_a_slow_upload_does_not_hold_up_other_requests(world: World):
    """The body arrives slowly (2 s); health checks and listings answer meanwhile."""
    def slow_body():  # noqa: ANN202
        for _ in range(20):
            time.sleep(0.1)
            yield b"x" * 4096

    result: dict = {}
    uploader = threading.Thread(target=lambda: result.update(
        response=world.client("alice").put("/v1/fs/content", params={"path": "/slow.bin"},
                                           content=slow_body())))
    uploader.start()
    time.sleep(0.3)
    with httpx.Client(base_url=world.url, timeout=5) as other:
        for _ in range(5):
            assert other.get("/healthz").status_code == 200
            assert other.get("/v1/fs/list", headers={
                "Authorization": f"Bearer {world.tokens['bob']}"}).status_code == 200
    assert uploader.is_alive()  # all answered while the upload was still arriving
    uploader.join(30)
    assert result["response"].status_code == 200 and result["response"].json()["size"] == 81920
