// Update keys and detached signatures (Signature.verify → ta_sig_verify: the PEM/DER
// P-256 key reader and the DER ECDSA-Sig-Value reader, C instrumented in this build).
// Input: one byte n, then n bytes of key, the rest the signature, checked against
// SHA-256("tinyagent fuzz"). Invariants: the same answer twice; a key that passes is the
// 91-byte DER or has the PEM lines; a bad key says why in one line.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase

@_cdecl("fuzz_signature_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

private let digest = Hex.decode(Array("3c8aecf60eb542bdd9d22f014062b312ea7256926f6b8bf863792e6ff5776585".utf8)[...], count: 32)!

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    guard let n = input.first.map(Int.init), input.count > n else { return 0 }
    let key = Array(input[1..<(n + 1)])
    let signature = Array(input[(n + 1)...])
    let check = Signature.verify(key: key, digest: digest, signature: signature)
    expect(Signature.verify(key: key, digest: digest, signature: signature) == check, "a second check differs")
    if case .badKey(let why) = check {
        expect(isOneLine(why) && !why.isEmpty, "reason: \(why)")
    } else {
        let pem = key.firstRange(of: Array("-----BEGIN PUBLIC KEY-----".utf8)) != nil
        expect(pem || key.count == 91, "a \(key.count)-byte key without PEM lines passed: \(check)")
    }
    return 0
}
