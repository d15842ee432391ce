"""AES-256-GCM sealing of gateway secrets: round trip, fresh nonces, and ciphertexts bound to
their tenant, gateway and field; and where the hub's key comes from."""

from __future__ import annotations

import base64
import pickle
import stat
import uuid
from pathlib import Path

import pytest

from hub.cli import SECRET_KEY_FILE, resolve_secret_key
from hub.settings import Settings
from protocols.secretbox import (
    FORMAT_VERSION,
    NONCE_BYTES,
    SecretBox,
    SecretUnreadable,
    decode_key,
    generate_key,
)

TENANT = uuid.UUID("6f1d1c52-0a39-4a3e-9a0c-8a8f5f0e2b11")
OTHER_TENANT = uuid.UUID("0c4b7e1a-5d2f-4c6e-8b3a-1f2e3d4c5b6a")


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_base64(generate_key())


def test_round_trip_returns_the_secret_and_never_stores_it_in_clear(box: SecretBox):
    sealed = box.encrypt("rzp-secret-ÅÉ-42", tenant_id=TENANT, gateway="razorpay", field="k")
    assert b"rzp-secret" not in sealed
    assert sealed[:1] == FORMAT_VERSION
    opened = box.decrypt(sealed, tenant_id=TENANT, gateway="razorpay", field="k")
    assert opened == "rzp-secret-ÅÉ-42"


def test_every_encryption_uses_a_fresh_nonce(box: SecretBox):
    sealed = [
        box.encrypt("same", tenant_id=TENANT, gateway="razorpay", field="k") for _ in range(50)
    ]
    nonces = {s[1 : 1 + NONCE_BYTES] for s in sealed}
    assert len(nonces) == 50
    assert len(set(sealed)) == 50


@pytest.mark.parametrize(
    ("tenant_id", "gateway", "field"),
    [
        (OTHER_TENANT, "razorpay", "key_secret"),
        (TENANT, "cashfree", "key_secret"),
        (TENANT, "razorpay", "webhook_secret"),
    ],
)
def test_a_ciphertext_moved_to_another_tenant_gateway_or_field_does_not_decrypt(
    box: SecretBox, tenant_id: uuid.UUID, gateway: str, field: str
):
    sealed = box.encrypt("s3cret", tenant_id=TENANT, gateway="razorpay", field="key_secret")
    with pytest.raises(SecretUnreadable) as caught:
        box.decrypt(sealed, tenant_id=tenant_id, gateway=gateway, field=field)
    assert "s3cret" not in str(caught.value) and "s3cret" not in repr(caught.value.details)


def test_another_key_or_a_flipped_bit_does_not_decrypt(box: SecretBox):
    sealed = box.encrypt("s3cret", tenant_id=TENANT, gateway="razorpay", field="k")
    other = SecretBox.from_base64(generate_key())
    with pytest.raises(SecretUnreadable):
        other.decrypt(sealed, tenant_id=TENANT, gateway="razorpay", field="k")
    tampered = bytearray(sealed)
    tampered[-1] ^= 0x01
    with pytest.raises(SecretUnreadable):
        box.decrypt(bytes(tampered), tenant_id=TENANT, gateway="razorpay", field="k")


@pytest.mark.parametrize("stored", [b"", b"\x01short", b"\x02" + bytes(40)])
def test_malformed_stored_values_are_refused(box: SecretBox, stored: bytes):
    with pytest.raises(SecretUnreadable):
        box.decrypt(stored, tenant_id=TENANT, gateway="razorpay", field="k")


@pytest.mark.parametrize(
    "text",
    ["", "not base64!", base64.b64encode(bytes(16)).decode(), base64.b64encode(bytes(33)).decode()],
)
def test_a_key_must_be_base64_of_32_bytes(text: str):
    with pytest.raises(ValueError, match="32"):
        decode_key(text)


def test_the_key_never_shows_and_errors_survive_pickling(box: SecretBox):
    key = generate_key()
    assert key not in repr(SecretBox.from_base64(key))
    error = SecretUnreadable("does not decrypt", {"tenant_id": str(TENANT)})
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, SecretUnreadable) and again.details == error.details


# -- where the hub's key comes from (hub/cli.py) --------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SEVA_DATABASE_URL", "SEVA_SECRET_KEY", "SEVA_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_the_embedded_default_keeps_one_private_key_file_across_restarts(
    tmp_path: Path, clean_env: None
):
    settings = Settings(data_dir=tmp_path / "data")
    first = resolve_secret_key(settings)
    assert first is not None
    key_file = tmp_path / "data" / SECRET_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(decode_key(first.get_secret_value())) == 32
    second = resolve_secret_key(Settings(data_dir=tmp_path / "data"))
    assert second is not None and second.get_secret_value() == first.get_secret_value()


def test_an_explicit_key_wins_and_an_external_database_without_one_gets_none(
    tmp_path: Path, clean_env: None
):
    explicit = generate_key()
    chosen = resolve_secret_key(Settings(data_dir=tmp_path, secret_key=explicit))
    assert chosen is not None and chosen.get_secret_value() == explicit
    external = Settings(data_dir=tmp_path, DATABASE_URL="postgresql://seva@db.example/seva")
    assert resolve_secret_key(external) is None
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_a_malformed_key_is_refused_without_showing_it(tmp_path: Path, clean_env: None):
    with pytest.raises(ValueError, match="SEVA_SECRET_KEY") as caught:
        resolve_secret_key(Settings(data_dir=tmp_path, secret_key="tooshort"))
    assert "tooshort" not in str(caught.value)
    (tmp_path / SECRET_KEY_FILE).write_text("also-not-a-key\n")
    with pytest.raises(ValueError, match=SECRET_KEY_FILE) as caught:
        resolve_secret_key(Settings(data_dir=tmp_path))
    assert "also-not-a-key" not in str(caught.value)
