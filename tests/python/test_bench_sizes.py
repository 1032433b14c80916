"""bench/sizes.py sums a program's symbols by the Swift module or C library they belong to."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("sizes", os.path.join(REPO, "bench", "sizes.py"))
sizes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sizes)


def test_each_symbol_goes_to_its_module_or_library():
    cases = {
        "$e9TinyAgent13UpdateManagerC4tick3nowy0A4Base7InstantV_tF": "TinyAgent",
        "$e12TinyWatchdog13AgentSettingsV5parse_4fileAA0D7ReadingVSays5UInt8VG_SStFZ": "TinyWatchdog",
        "$e9tinyagent4mainys5Int32VSaySSGAA10UsageErrorVYKF": "tinyagent",
        "$es27_stringCompareWithSmolCheck__9expectingSbs11_StringGuts": "Swift stdlib",
        "$eSS9hasPrefixySbSSF": "Swift stdlib",
        "_ZL24_swift_stdlib_nfd_decomp": "Unicode tables",
        "_swift_stdlib_getNormData": "Unicode tables",
        "mbedtls_internal_aes_encrypt": "mbedTLS",
        "ta_spawn": "C shims",
        "__aeabi_uidiv": "C: other",
    }
    assert {name: sizes.group(name) for name in cases} == cases
