"""moto's KMS server for the tests, with the gaps of moto 5.2.5 mended (docs/design.md, D7).

Run by `tuf_keys::test_support::MotoKms` with the test virtualenv's python
(scripts/test-env.sh). It listens on 127.0.0.1 only, on a free port the OS picks, prints

    MOTO_KMS_READY http://127.0.0.1:PORT

on stdout once it accepts connections, and exits when its stdin closes (so it never outlives
the test process that started it) or when it is killed.

What is mended, on top of moto 5.2.5 and only for KMS:

1. `Sign`/`Verify` honour `MessageType`. moto ignores it and hashes a DIGEST message again, so a
   digest signature comes out over SHA-256(digest) and no verifier accepts it. Here a DIGEST
   message is signed as the pre-hashed value it is, its length must match the algorithm's hash,
   and a RAW message may be at most 4,096 bytes, as in AWS KMS.
2. The `ECC_NIST_EDWARDS25519` key spec with its `ED25519_SHA_512` signing algorithm (pure
   Ed25519 over a RAW message; DIGEST is refused, as AWS KMS does). `ED25519_PH_SHA_512` is not
   offered: a client asking for it gets the usual "must satisfy enum value set" error.
3. `GetPublicKey` returns `KeySpec` (moto returns only the deprecated `CustomerMasterKeySpec`).

Exit codes before readiness: 3 if moto cannot be imported (the test environment is missing),
4 if the installed moto is not the version these patches were written for.
"""

import base64
import json
import logging
import sys

PATCHED_MOTO_VERSION = "5.2.5"
RAW_MESSAGE_MAX = 4096
ED25519 = "ECC_NIST_EDWARDS25519"
ED25519_SHA_512 = "ED25519_SHA_512"

try:
    import moto
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from moto.kms import models, responses, utils
    from moto.kms.exceptions import ValidationException
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
except ImportError as error:  # the venv is missing or incomplete
    print(f"moto_kms: cannot import moto: {error}; run scripts/test-env.sh", file=sys.stderr)
    sys.exit(3)

if moto.__version__ != PATCHED_MOTO_VERSION:
    print(
        f"moto_kms: moto {moto.__version__} is installed but these patches are for "
        f"moto {PATCHED_MOTO_VERSION}; run scripts/test-env.sh",
        file=sys.stderr,
    )
    sys.exit(4)


# --- 2. The ECC_NIST_EDWARDS25519 key spec -------------------------------------------------


class Ed25519PrivateKey(utils.AbstractPrivateKey):
    """An Ed25519 KMS key: signs RAW messages with pure Ed25519 (ED25519_SHA_512)."""

    def __init__(self) -> None:
        self.private_key = ed25519.Ed25519PrivateKey.generate()

    def sign(self, message: bytes, signing_algorithm: str) -> bytes:
        utils.validate_signing_algorithm(signing_algorithm, [ED25519_SHA_512])
        return self.private_key.sign(message)

    def verify(self, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
        utils.validate_signing_algorithm(signing_algorithm, [ED25519_SHA_512])
        try:
            self.private_key.public_key().verify(signature, message)
            return True
        except InvalidSignature:
            return False

    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            encoding=serialization.Encoding.DER,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )


_original_generate_private_key = models.generate_private_key


def _generate_private_key(key_spec: str) -> utils.AbstractPrivateKey:
    if key_spec == ED25519:
        return Ed25519PrivateKey()
    return _original_generate_private_key(key_spec)


# models.py imported the function by name, so the name in models is the one to replace.
models.generate_private_key = _generate_private_key

_original_ensure_valid_key_spec = models.KmsBackend._KmsBackend__ensure_valid_key_spec


def _ensure_valid_key_spec(self, key_spec: str) -> None:
    if key_spec != ED25519:
        _original_ensure_valid_key_spec(self, key_spec)


models.KmsBackend._KmsBackend__ensure_valid_key_spec = _ensure_valid_key_spec

_original_signing_algorithms = models.Key.signing_algorithms


def _signing_algorithms(self):
    if self.key_spec == ED25519 and self.key_usage != "ENCRYPT_DECRYPT":
        return [ED25519_SHA_512]
    return _original_signing_algorithms.fget(self)


models.Key.signing_algorithms = property(_signing_algorithms)


# --- 1. MessageType for Sign and Verify ----------------------------------------------------

_ECDSA_HASHES = {
    "ECDSA_SHA_256": hashes.SHA256,
    "ECDSA_SHA_384": hashes.SHA384,
    "ECDSA_SHA_512": hashes.SHA512,
}


def _check_message(private_key, message: bytes, message_type: str, signing_algorithm: str):
    """Validates a message as AWS KMS does; returns the ECDSA hash for a DIGEST, else None."""
    if message_type not in ("RAW", "DIGEST"):
        raise ValidationException(
            f"1 validation error detected: Value '{message_type}' at 'MessageType' failed to "
            "satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST]"
        )
    if message_type == "RAW":
        if len(message) > RAW_MESSAGE_MAX:
            raise ValidationException(
                "1 validation error detected: Value at 'Message' failed to satisfy constraint: "
                f"Member must have length less than or equal to {RAW_MESSAGE_MAX}"
            )
        return None
    if isinstance(private_key, Ed25519PrivateKey):
        raise ValidationException(
            f"The {signing_algorithm} signing algorithm requires the RAW message type"
        )
    if not isinstance(private_key, utils.ECDSAPrivateKey) or signing_algorithm not in _ECDSA_HASHES:
        raise ValidationException(
            "moto_kms: DIGEST messages are emulated for ECDSA keys only"
        )
    hash_algorithm = _ECDSA_HASHES[signing_algorithm]()
    if len(message) != hash_algorithm.digest_size:
        raise ValidationException(
            f"Digest is invalid length for algorithm {signing_algorithm}: expected "
            f"{hash_algorithm.digest_size} bytes, got {len(message)}"
        )
    return hash_algorithm


def _backend_sign(self, key_id: str, message: bytes, signing_algorithm: str, message_type: str = "RAW"):
    key = self.describe_key(key_id)
    self._KmsBackend__ensure_valid_sign_and_verify_key(key)
    self._KmsBackend__ensure_valid_signing_algorithm(key, signing_algorithm)
    prehash = _check_message(key.private_key, message, message_type, signing_algorithm)
    if prehash is None:
        signature = key.private_key.sign(message, signing_algorithm)
    else:
        signature = key.private_key.private_key.sign(message, ec.ECDSA(Prehashed(prehash)))
    return key.arn, signature, signing_algorithm


def _backend_verify(
    self, key_id: str, message: bytes, signature: bytes, signing_algorithm: str, message_type: str = "RAW"
):
    key = self.describe_key(key_id)
    self._KmsBackend__ensure_valid_sign_and_verify_key(key)
    self._KmsBackend__ensure_valid_signing_algorithm(key, signing_algorithm)
    prehash = _check_message(key.private_key, message, message_type, signing_algorithm)
    if prehash is None:
        valid = key.private_key.verify(message, signature, signing_algorithm)
    else:
        try:
            key.private_key.private_key.public_key().verify(
                signature, message, ec.ECDSA(Prehashed(prehash))
            )
            valid = True
        except InvalidSignature:
            valid = False
    return key.arn, valid, signing_algorithm


models.KmsBackend.sign = _backend_sign
models.KmsBackend.verify = _backend_verify


def _non_empty(value, name: str) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not value:
        raise ValidationException(
            f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    return value


def _response_sign(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_key_id(key_id)
    message = _non_empty(self._get_param("Message"), "Message")
    key_arn, signature, signing_algorithm = self.kms_backend.sign(
        key_id=key_id,
        message=message,
        signing_algorithm=self._get_param("SigningAlgorithm"),
        message_type=self._get_param("MessageType") or "RAW",
    )
    return json.dumps(
        {
            "KeyId": key_arn,
            "Signature": base64.b64encode(signature).decode("utf-8"),
            "SigningAlgorithm": signing_algorithm,
        }
    )


def _response_verify(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_key_id(key_id)
    message = _non_empty(self._get_param("Message"), "Message")
    signature = self._get_param("Signature")
    if isinstance(signature, str):
        signature = base64.b64decode(signature.encode("utf-8"))
    signature = _non_empty(signature, "Signature")
    key_arn, valid, signing_algorithm = self.kms_backend.verify(
        key_id=key_id,
        message=message,
        signature=signature,
        signing_algorithm=self._get_param("SigningAlgorithm"),
        message_type=self._get_param("MessageType") or "RAW",
    )
    return json.dumps(
        {"KeyId": key_arn, "SignatureValid": valid, "SigningAlgorithm": signing_algorithm}
    )


responses.KmsResponse.sign = _response_sign
responses.KmsResponse.verify = _response_verify


# --- 3. KeySpec in GetPublicKey ------------------------------------------------------------

_original_get_public_key = responses.KmsResponse.get_public_key


def _get_public_key(self) -> str:
    body = json.loads(_original_get_public_key(self))
    body["KeySpec"] = body["CustomerMasterKeySpec"]
    return json.dumps(body)


responses.KmsResponse.get_public_key = _get_public_key


# --- The server ----------------------------------------------------------------------------


def main() -> None:
    # One line per request on stderr would drown the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"MOTO_KMS_READY http://{host}:{port}", flush=True)
    # Serve until the parent closes our stdin (or dies, which closes it too).
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
