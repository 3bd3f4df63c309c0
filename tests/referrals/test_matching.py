import datetime as dt

from diversion.referrals.matching import (
    PersonKeys,
    compare,
    find_matches,
    first_given_key,
    is_same_person,
    name_key,
)
from tests.builders import create_person

DOB = dt.date(1980, 1, 2)


def keys(family="Smith", given="John", dob=DOB, pnc=None):
    return PersonKeys.of(family_name=family, given_names=given, date_of_birth=dob, pnc_id=pnc)


def test_names_are_compared_without_case_accents_or_punctuation():
    assert name_key("O'Brién-Smyth") == "obriensmyth"
    assert first_given_key("  jean-luc  Paul") == "jean"


def test_the_same_pnc_id_is_an_exact_match_whatever_the_names():
    found = compare(keys(family="Jones", pnc="2019/0123456E"),
                    keys(family="Smith", dob=dt.date(1970, 1, 1), pnc="2019/0123456E"))
    assert found is not None and found[0] == "exact" and found[1] == ["Same PNC ID"]


def test_same_names_and_date_of_birth_are_an_exact_match():
    found = compare(keys(family="O'Neil"), keys(family="ONEIL"))
    assert found is not None and found[0] == "exact"


def test_same_names_but_different_pnc_ids_are_only_a_possible_match():
    found = compare(keys(pnc="2019/0123456E"), keys(pnc="1998/0000001R"))
    assert found is not None and found[0] == "possible" and "Different PNC IDs" in found[1]


def test_a_near_spelling_with_the_same_date_of_birth_is_a_possible_match():
    found = compare(keys(family="Smyth", given="Jon"), keys(family="Smith", given="John"))
    assert found is not None and found[0] == "possible"
    assert "Similar family name" in found[1] and "Similar first name" in found[1]


def test_a_near_spelling_with_another_date_of_birth_is_no_match():
    assert compare(keys(family="Smyth"), keys(family="Smith", dob=dt.date(1980, 1, 3))) is None


def test_different_names_with_the_same_date_of_birth_are_no_match():
    assert compare(keys(family="Hargreaves", given="Tom"), keys(family="Smith")) is None


def test_find_matches_lists_exact_before_possible_with_reasons(app):
    exact = create_person()
    near = create_person("Smyth")
    create_person("Smith", date_of_birth=dt.date(1981, 1, 2))
    create_person("Patel", "Raj")
    matches = find_matches(family_name="SMITH", given_names="john", date_of_birth=DOB)
    assert [(m.person.id, m.kind) for m in matches] == [(exact.id, "exact"), (near.id, "possible")]
    assert matches[0].reasons == ["Same family name, first given name and date of birth"]


def test_find_matches_finds_a_pnc_holder_born_on_another_day(app):
    holder = create_person("Jones", date_of_birth=dt.date(1975, 5, 5), pnc_id="2019/0123456E")
    matches = find_matches(family_name="Smith", given_names="John", date_of_birth=DOB,
                           pnc_id="2019/0123456E")
    assert [(m.person.id, m.kind) for m in matches] == [(holder.id, "exact")]


def test_find_matches_returns_nothing_for_a_stranger(app):
    create_person()
    assert find_matches(family_name="Okafor", given_names="Chidi", date_of_birth=DOB) == []


def test_the_same_person_rule_is_an_exact_match_and_nothing_looser():
    born = dt.date(1990, 5, 17)
    query = PersonKeys.of(family_name="O'Brien", given_names="Sean Paul", date_of_birth=born)
    assert is_same_person(query, PersonKeys.of(family_name="OBRIEN", given_names="Seán",
                                               date_of_birth=born, pnc_id="12/1234567A"))
    assert not is_same_person(query, PersonKeys.of(family_name="O'Bryan", given_names="Sean",
                                                   date_of_birth=born))  # only possible
    with_pnc = PersonKeys.of(family_name="O'Brien", given_names="Sean", date_of_birth=born,
                             pnc_id="12/1234567A")
    assert not is_same_person(with_pnc, PersonKeys.of(
        family_name="O'Brien", given_names="Sean", date_of_birth=born, pnc_id="13/7654321B"))
    assert is_same_person(with_pnc, PersonKeys.of(
        family_name="Smith", given_names="John", date_of_birth=dt.date(1970, 1, 1),
        pnc_id="12/1234567A"))
