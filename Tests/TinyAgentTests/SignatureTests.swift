import Foundation
import Testing
@testable import TinyAgent
@testable import TinyWatchdog
@testable import TinyBase
import TestSupport

/// Update signatures as `openssl dgst -sha256 -sign` makes them, checked by
/// the agent's own code (libgcrypt) on an open descriptor, and the update keys'
/// folder rules. Keys and signatures are made by the real openssl.
@Suite final class SignatureTests {
    let folder = NSTemporaryDirectory() + "tinyagent-sig-\(UUID().uuidString)"
    var keys: String { "\(folder)/update-keys" }
    var archive: String { "\(folder)/a.zip" }

    init() throws {
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: keys)
        try Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: archive))
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    /// A P-256 key pair `name`; its public half goes into the keys folder when `trusted`.
    func key(_ name: String, curve: String = "prime256v1", trusted: Bool = true) throws -> String {
        let secret = "\(folder)/\(name).key"
        try runTool("openssl", ["ecparam", "-name", curve, "-genkey", "-noout", "-out", secret])
        if trusted { try runTool("openssl", ["ec", "-in", secret, "-pubout", "-out", "\(keys)/\(name).pem"]) }
        return secret
    }

    func sign(with secret: String) throws -> [UInt8] {
        try runTool("openssl", ["dgst", "-sha256", "-sign", secret, "-out", "\(archive).sig", archive])
        return Array(try Data(contentsOf: URL(fileURLWithPath: "\(archive).sig")))
    }

    func check(_ signature: [UInt8]) throws -> SignatureVerdict {
        let fd = try Folder.openRegularFile(archive)
        defer { fd.close() }
        return try ArchiveCheck.check(archive: fd, signature: signature, keys: try UpdateKeys.load(keys))
    }

    @Test func anArchiveSignedWithATrustedKeyIsAccepted() throws {
        _ = try key("other")
        let signature = try sign(with: try key("fleet"))
        #expect(try check(signature) == .signed(by: "fleet.pem"))
    }

    @Test func theDigestIsTheFilesSHA256() throws {
        let fd = try Folder.openRegularFile(archive)
        defer { fd.close() }
        let (digest, size) = try Signature.sha256(of: fd)
        #expect(size == 300_000)
        let openssl = try runTool("openssl", ["dgst", "-sha256", "-r", archive])
        #expect(Hex.encode(digest) == String(openssl.prefix(64)))
    }

    @Test func aSignatureByAnUntrustedKeyIsRefused() throws {
        _ = try key("fleet")
        let signature = try sign(with: try key("stranger", trusted: false))
        guard case .refused(let why) = try check(signature) else { Issue.record("accepted"); return }
        #expect(why.contains("does not match"))
    }

    @Test func anAlteredArchiveIsRefused() throws {
        let signature = try sign(with: try key("fleet"))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: archive))
        try handle.seek(toOffset: 1000)
        handle.write(Data([0xff]))
        try handle.close()
        guard case .refused(let why) = try check(signature) else { Issue.record("accepted"); return }
        #expect(why.contains("does not match"))
    }

    @Test func aCorruptSignatureIsRefusedAsCorrupt() throws {
        _ = try key("fleet")
        guard case .refused(let why) = try check(Array("not a signature\n".utf8)) else { Issue.record("accepted"); return }
        #expect(why.contains("corrupt"))
    }

    @Test func anUnsignedArchiveIsRefusedWhenTheDeviceHasKeys() throws {
        _ = try key("fleet")
        guard case .refused(let why) = try check([]) else { Issue.record("accepted"); return }
        #expect(why.contains("unsigned"))
    }

    @Test func withoutKeysAnyArchiveIsAcceptedUnchecked() throws {
        #expect(try check([]) == .notChecked(hadSignature: false))
        #expect(try check([1, 2, 3]) == .notChecked(hadSignature: true))
        try FileManager.default.removeItem(atPath: keys)
        #expect(try UpdateKeys.load(keys).keys.isEmpty, "no folder: no keys")
    }

    @Test func onlyASignedVerdictNamesAKey() {
        // What the journal keeps as signed_by: it decides whether bin/ (root's code) may be installed.
        #expect(SignatureVerdict.signed(by: "fleet.pem").key == "fleet.pem")
        #expect(SignatureVerdict.notChecked(hadSignature: true).key == nil)
        #expect(SignatureVerdict.notChecked(hadSignature: false).key == nil)
        #expect(SignatureVerdict.refused("signed by fleet.pem").key == nil, "a refusal's words never count")
    }

    @Test func aKeyOnAnotherCurveRefusesEveryUpdate() throws {
        let signature = try sign(with: try key("fleet"))
        _ = try key("a-p384", curve: "secp384r1")
        guard case .refused(let why) = try check(signature) else { Issue.record("accepted"); return }
        #expect(why.contains("a-p384.pem is not an EC P-256 public key"))
    }

    /// The folder takes `*.pem` files; one holding the key's DER bytes works too.
    @Test func aDERKeyChecksLikeItsPEM() throws {
        let secret = try key("fleet", trusted: false)
        try runTool("openssl", ["ec", "-in", secret, "-pubout", "-outform", "DER", "-out", "\(keys)/fleet.pem"])
        #expect(try check(try sign(with: secret)) == .signed(by: "fleet.pem"))
    }

    /// Keys the check cannot use refuse every update, each with its reason:
    /// a compressed point, a point off the curve, and text that is no key.
    @Test func aKeyItCannotUseIsRefusedWithWhatIsWrong() throws {
        let secret = try key("fleet", trusted: false)
        let signature = try sign(with: secret)
        try runTool("openssl", ["ec", "-in", secret, "-pubout", "-conv_form", "compressed", "-out", "\(keys)/fleet.pem"])
        #expect(try check(signature) == .refused(
            "certs/update-keys/fleet.pem is not an EC P-256 public key (not a P-256 SubjectPublicKeyInfo with an uncompressed point)"))
        try runTool("openssl", ["ec", "-in", secret, "-pubout", "-outform", "DER", "-out", "\(folder)/fleet.der"])
        var der = Array(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/fleet.der")))
        der[der.count - 1] ^= 1  // Y no longer belongs to X
        try Data(der).write(to: URL(fileURLWithPath: "\(keys)/fleet.pem"))
        #expect(try check(signature) == .refused("certs/update-keys/fleet.pem is not an EC P-256 public key (its point is not on the curve)"))
        try Data("-----BEGIN PUBLIC KEY-----\nnot*base64\n-----END PUBLIC KEY-----\n".utf8).write(to: URL(fileURLWithPath: "\(keys)/fleet.pem"))
        #expect(try check(signature) == .refused(
            "certs/update-keys/fleet.pem is not an EC P-256 public key (its PEM text is not the base64 of a P-256 key)"))
    }

    /// Only the exact DER ECDSA-Sig-Value: a byte after it, a length that lies,
    /// or a negative r make it corrupt, not a mismatch.
    @Test func aSignatureThatIsNotExactlyDERIsCorrupt() throws {
        let signature = try sign(with: try key("fleet"))
        #expect(try check(signature) == .signed(by: "fleet.pem"))
        var corrupt: [[UInt8]] = [signature + [0], signature, signature]
        corrupt[1][1] &+= 1
        corrupt[2][4] |= 0x80
        for bytes in corrupt {
            #expect(try check(bytes) == .refused("signature: corrupt (not a DER ECDSA signature)"))
        }
    }

    @Test func aKeyWritableByOthersOrOwnedByAnotherUserIsRefused() throws {
        _ = try key("fleet")
        let pem = "\(keys)/fleet.pem"
        try FileManager.default.setAttributes([.posixPermissions: 0o664], ofItemAtPath: pem)
        #expect(throws: UpdateKeyError.self) { try UpdateKeys.load(keys) }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: pem)
        #expect(try UpdateKeys.load(keys).keys.count == 1)
        #expect(throws: UpdateKeyError.self) { try UpdateKeys.load(keys, owner: Processes.effectiveUID + 1) }
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: keys)
        #expect(throws: UpdateKeyError.self, "a folder others can write: they could add a key") { try UpdateKeys.load(keys) }
    }

    @Test func aSymlinkedKeyOrKeyFolderIsRefused() throws {
        let secret = try key("fleet", trusted: false)
        try runTool("openssl", ["ec", "-in", secret, "-pubout", "-out", "\(folder)/elsewhere.pem"])
        try FileManager.default.createSymbolicLink(atPath: "\(keys)/fleet.pem", withDestinationPath: "\(folder)/elsewhere.pem")
        #expect(throws: UpdateKeyError.self) { try UpdateKeys.load(keys) }
        try FileManager.default.createSymbolicLink(atPath: "\(folder)/linked-keys", withDestinationPath: keys)
        #expect(throws: UpdateKeyError.self) { try UpdateKeys.load("\(folder)/linked-keys") }
    }
}
