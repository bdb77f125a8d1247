"""ISO code lists cloudcat checks input against: currencies (ISO 4217) and countries (ISO 3166-1).

Kept as data here (no dependency): the active currency codes with the common fund codes, and the
officially assigned alpha-2 country codes. :func:`check_currency` and :func:`check_country` give
the code as cloudcat stores it (upper case) or raise :class:`ValueError` with a message for users.
"""

from __future__ import annotations

__all__ = ["ISO_3166_ALPHA2", "ISO_4217", "check_country", "check_currency"]

#: Active ISO 4217 currency codes (and the common fund codes).
_ISO_4217_TEXT = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
"""
ISO_4217: frozenset[str] = frozenset(_ISO_4217_TEXT.split())

#: Officially assigned ISO 3166-1 alpha-2 country codes.
_ISO_3166_TEXT = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_3166_ALPHA2: frozenset[str] = frozenset(_ISO_3166_TEXT.split())

# Exceptionally reserved codes people write for a country: taken as the assigned one.
_COUNTRY_ALIASES = {"UK": "GB"}


def check_currency(code: str) -> str:
    """``code`` in upper case if it is an ISO 4217 currency code, else :class:`ValueError`."""
    upper = code.strip().upper()
    if upper not in ISO_4217:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (EUR, USD, CHF…)")
    return upper


def check_country(code: str) -> str:
    """``code`` in upper case if it is an ISO 3166-1 alpha-2 country code (``UK`` is taken as
    ``GB``), else :class:`ValueError`."""
    upper = code.strip().upper()
    upper = _COUNTRY_ALIASES.get(upper, upper)
    if upper not in ISO_3166_ALPHA2:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (FR, DE, US…)")
    return upper
