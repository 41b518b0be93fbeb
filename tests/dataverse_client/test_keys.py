from hypothesis import given, strategies as st
import pytest

from shared.dataverse.keys import FORBIDDEN, decode_key, encode_key, key_ref, key_segment

nasty = st.text(alphabet=st.sampled_from(list("/<>*%&:\\?+~'#aZ09 -_.é")) | st.characters(), max_size=40)


@given(nasty)
def test_round_trip(s):
    assert decode_key(encode_key(s)) == s


@given(nasty)
def test_encoded_never_contains_forbidden(s):
    enc = encode_key(s)
    assert not (set(enc) & FORBIDDEN)


@given(st.text(alphabet=st.characters(blacklist_characters="/<>*%&:\\?+~"), max_size=30))
def test_ordinary_ids_unchanged(s):
    assert encode_key(s) == s


@given(nasty, nasty)
def test_injective(a, b):
    if a != b:
        assert encode_key(a) != encode_key(b)


def test_examples():
    assert encode_key("A/1") == "A~2F1"
    assert encode_key("~") == "~7E"
    assert encode_key("a+b:c") == "a~2Bb~3Ac"
    assert encode_key(123) == "123"


@pytest.mark.parametrize("bad", ["~", "~4", "~ZZ", "a/b", "~41"])
def test_decode_rejects_malformed(bad):
    with pytest.raises(ValueError):
        decode_key(bad)


def test_key_segment_quotes_and_escapes():
    assert key_segment("accounts", "wtc_sourceid", "O'Brien") == "accounts(wtc_sourceid='O''Brien')"
    assert key_segment("accounts", "wtc_sourceid", "a#b c") == "accounts(wtc_sourceid='a%23b%20c')"
    assert key_segment("accounts", "wtc_sourceid", "a#b", url=False) == "accounts(wtc_sourceid='a#b')"
    assert key_segment("accounts", "accountnumber", 42) == "accounts(accountnumber=42)"
    assert key_ref("accounts", "wtc_sourceid", "x/y") == "/accounts(wtc_sourceid='x~2Fy')"
