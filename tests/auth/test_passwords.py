"""The password policy: 12 characters or more, common passwords refused, no composition rules."""

import pytest

from diversion import create_app
from diversion.auth.passwords import (
    PROFILES,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)


@pytest.mark.parametrize("password", [
    "correct horse battery staple",
    "alllowercaseletters",
    "ÄÖÜ unicode pass phrase",
    "x" * 10 + "yz12",
])
def test_long_uncommon_passwords_are_accepted_without_composition_rules(password):
    assert password_problem(password) is None


def test_eleven_characters_are_too_few_and_twelve_are_enough():
    assert password_problem("kettle pond") == "Password must be 12 characters or more"
    assert password_problem("kettle pond9") is None


@pytest.mark.parametrize("password", ["123456789012", "qwertyuiopas", "password1234",
                                      "aaaaaaaaaaaaaaa"])
def test_common_or_repetitive_passwords_are_refused(password):
    problem = password_problem(password)
    assert problem is not None
    assert "too common" in problem or "characters" in problem


def test_the_common_list_is_checked_case_insensitively():
    assert password_problem("PASSWORD1234") == password_problem("password1234") is not None


def test_a_password_that_is_the_email_or_the_name_is_refused():
    assert password_problem("someone.long@example.test", email="someone.long@example.test")
    assert password_problem("Pat Q Smithsonian", name="Pat Q Smithsonian") is not None


def test_over_256_characters_is_refused():
    assert password_problem("x y z " * 50) == "Password must be 256 characters or fewer"


def test_hashes_are_argon2id_salted_and_verify():
    first, second = hash_password("a long passphrase here"), hash_password("a long passphrase here")
    assert first.startswith("$argon2id$")
    assert first != second
    assert verify_password(first, "a long passphrase here")
    assert not verify_password(first, "a long passphrase herE")
    assert not verify_password("not a hash", "anything")
    assert not needs_rehash(first)


def test_production_hashes_with_rfc_9106s_argon2id_and_the_test_profile_is_the_suites_alone(tmp_path):
    strong = PROFILES["production"]
    assert (strong.type.name, strong.time_cost, strong.memory_cost, strong.parallelism) == (
        "ID", 3, 64 * 1024, 4)
    # Outside an app, and in an app built with the default settings, hashes are production's.
    assert hash_password("a long passphrase here").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    url = f"sqlite:///{tmp_path}/x.sqlite"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    assert app.config["PASSWORD_HASH_PROFILE"] == "production"
    with app.app_context():
        made = hash_password("a long passphrase here")
    assert made.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    # The suite's cheap profile is refused by an app that is not TESTING, and so is a typo.
    with pytest.raises(RuntimeError, match="test suite only"):
        create_app({"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_PROFILE": "test"})
    with pytest.raises(RuntimeError, match="must be one of"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url,
                    "PASSWORD_HASH_PROFILE": "fast"})
    # Under it, a hash made at production cost still verifies, and is replaced on next sign-in.
    testing = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url,
                          "PASSWORD_HASH_PROFILE": "test"})
    with testing.app_context():
        assert verify_password(made, "a long passphrase here")
        assert needs_rehash(made)
        assert hash_password("x").startswith("$argon2id$v=19$m=8,t=1,p=1$")
