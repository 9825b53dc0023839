import os

import pytest

from ivr.secrets import SecretsError, load_secrets, read_env_file

ACCOUNT = "AC" + "1" * 32
KEY = "SK" + "2" * 32


def write_env(tmp_path, text, mode=0o600):
    path = tmp_path / "repos.env"
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_an_env_file_others_can_read_is_refused_with_the_chmod_fix(tmp_path, mode):
    path = write_env(tmp_path, "TWILIO_AUTH_TOKEN=s3cret-value\n", mode)
    with pytest.raises(SecretsError) as caught:
        read_env_file(path)
    message = str(caught.value)
    assert f"chmod 600 {path}" in message
    assert "s3cret-value" not in message


def test_env_file_values_and_environment_precedence(tmp_path):
    path = write_env(tmp_path, "# shared\nexport TWILIO_AUTH_TOKEN='from-file'\n"
                               f"TWILIO_ACCOUNT_SID={ACCOUNT}\n"
                               f'TWILIO_API_KEY="{KEY}"\nTWILIO_API_SECRET=key-secret\n'
                               "IVR_PUBLIC_BASE_URL=https://ivr.example.com/\n")
    secrets = load_secrets({"IVR_ENV_FILE": str(path), "TWILIO_API_SECRET": "from-env"})
    assert secrets.auth_token == "from-file"
    assert secrets.api_secret == "from-env"
    assert secrets.public_base_url == "https://ivr.example.com"
    assert secrets.rest_credentials() == (KEY, "from-env", ACCOUNT)
    assert not secrets.uses_account_pair
    assert "from-file" not in repr(secrets) and "from-env" not in repr(secrets)


def test_the_fallback_address_is_read_like_the_public_one(tmp_path):
    path = write_env(tmp_path, "IVR_PUBLIC_BASE_URL=https://ivr.example.com\n"
                               "IVR_FALLBACK_BASE_URL=https://ivr-b.example.com/\n")
    secrets = load_secrets({"IVR_ENV_FILE": str(path)})
    assert secrets.fallback_base_url == "https://ivr-b.example.com"
    assert load_secrets({}).fallback_base_url is None


def test_a_malformed_line_is_named_by_number_not_content(tmp_path):
    path = write_env(tmp_path, "TWILIO_AUTH_TOKEN=ok\nthis-is-a-secret-without-equals\n")
    with pytest.raises(SecretsError) as caught:
        read_env_file(path)
    assert "line 2" in str(caught.value)
    assert "this-is-a-secret" not in str(caught.value)


def test_the_account_pair_is_the_fallback():
    secrets = load_secrets({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "tok"})
    assert secrets.rest_credentials() == (ACCOUNT, "tok", ACCOUNT)
    assert secrets.uses_account_pair


def test_no_credentials_at_all_is_local_mode():
    secrets = load_secrets({})
    assert secrets.local and secrets.rest_credentials() is None


@pytest.mark.parametrize("environ, says", [
    ({"TWILIO_ACCOUNT_SID": ACCOUNT}, "TWILIO_AUTH_TOKEN is not set"),
    ({"TWILIO_AUTH_TOKEN": "t"}, "TWILIO_ACCOUNT_SID is not set"),
    ({"TWILIO_ACCOUNT_SID": "123", "TWILIO_AUTH_TOKEN": "t"}, "start with 'AC'"),
    ({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "t", "TWILIO_API_KEY": KEY},
     "without TWILIO_API_SECRET"),
    ({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": "t", "TWILIO_API_KEY": "mykey",
      "TWILIO_API_SECRET": "s"}, "start with 'SK'"),
    ({"IVR_PUBLIC_BASE_URL": "ivr.example.com"}, "IVR_PUBLIC_BASE_URL must be an http(s) URL"),
    ({"IVR_FALLBACK_BASE_URL": "ivr-b.example.com"},
     "IVR_FALLBACK_BASE_URL must be an http(s) URL"),
    ({"IVR_FALLBACK_BASE_URL": "https://ivr-b.example.com?x=1"},
     "IVR_FALLBACK_BASE_URL must not carry a query or fragment"),
    ({"IVR_PUBLIC_BASE_URL": "https://ivr.example.com/",
      "IVR_FALLBACK_BASE_URL": "https://ivr.example.com"},
     "IVR_FALLBACK_BASE_URL is the same address as IVR_PUBLIC_BASE_URL"),
    ({"TWILIO_API_BASE": "ftp://x"}, "TWILIO_API_BASE must be an http(s) URL"),
    ({"IVR_ENV_FILE": "/nonexistent/repos.env"}, "does not exist"),
])
def test_inconsistent_secrets_say_what_to_do(environ, says):
    with pytest.raises(SecretsError) as caught:
        load_secrets(environ)
    assert says in str(caught.value) and "Fix:" in str(caught.value)
