"""The principals file: who may call the gateway, read from YAML that holds no token.

Given a file of principals (id, roles, accounts, the sha256 of the bearer token), the
gateway answers exactly those tokens; a file it cannot use is refused before anything
starts, naming the file and the field, and ``cpqsim serve`` exits 2 without a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cpqsim_actors.auth import (
    PrincipalsFileInvalid,
    load_principals,
    new_token,
    token_hash,
)
from cpqsim_actors.serve import choose_principals, is_loopback

CPQSIM = str(Path(sys.executable).with_name("cpqsim"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "principals.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_token_names_its_principal_and_the_file_holds_only_its_hash(tmp_path):
    token = new_token()
    path = write(
        tmp_path,
        f"""
principals:
  - id: Alice
    roles: [seller]
    accounts: [acct-0001]
    token_sha256: {token_hash(token)}
  - id: olga
    roles: [operations]
    token_sha256: {token_hash("another")}
""",
    )

    directory = load_principals(path)

    alice = directory.authenticate(token)
    assert alice is not None and alice.id == "alice"  # ids are kept in canonical form
    assert alice.accounts == frozenset({"acct-0001"}) and alice.has_role("seller")
    olga = directory.authenticate("another")
    assert olga is not None and olga.accounts is None  # no accounts listed: every account
    assert directory.authenticate(token_hash(token)) is None  # the hash is not the token
    assert token not in path.read_text()


HASH = "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("principals: [", "not valid YAML"),
        ("principals: []", "principals: List should have at least 1 item"),
        ("principals:\n  - id: a\n    roles: [seller]\n    token: x\n", "principals[0].token"),
        ("principals:\n  - id: a\n    roles: [seller]\n", "principals[0].token_sha256"),
        (
            "principals:\n  - id: a\n    roles: [seller]\n    token_sha256: secret\n",
            "principals[0].token_sha256: String should match pattern",
        ),
        (f"principals:\n  - id: a\n    roles: []\n    token_sha256: {HASH}\n", "roles"),
        (
            f"principals:\n  - {{id: alice, roles: [seller], token_sha256: {HASH}}}\n"
            f"  - {{id: 'ALICE ', roles: [seller], token_sha256: {'b' * 64}}}\n",
            "principals[1].id: 'ALICE ' is principals[0] again",
        ),
        (
            f"principals:\n  - {{id: a, roles: [seller], token_sha256: {HASH}}}\n"
            f"  - {{id: b, roles: [seller], token_sha256: {HASH}}}\n",
            "principals[1].token_sha256: the same token as principals[0]",
        ),
    ],
)
def test_a_file_it_cannot_use_is_refused_naming_the_file_and_the_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(PrincipalsFileInvalid) as refused:
        load_principals(path)
    assert str(path) in str(refused.value)
    assert expected in str(refused.value)


def test_a_missing_file_is_refused_too(tmp_path):
    with pytest.raises(PrincipalsFileInvalid, match="cannot read"):
        load_principals(tmp_path / "nowhere.yaml")


def test_the_demo_principals_serve_loopback_only():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(SystemExit) as refused:
        choose_principals(None, "0.0.0.0")
    assert refused.value.code == 2


def test_serve_with_a_bad_principals_file_exits_2_before_starting_anything(tmp_path):
    path = write(tmp_path, "principals:\n  - id: a\n    roles: [seller]\n")
    run = subprocess.run(
        [CPQSIM, "serve", "--principals", str(path), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "principals[0].token_sha256" in run.stderr and str(path) in run.stderr
    assert "Traceback" not in run.stderr
