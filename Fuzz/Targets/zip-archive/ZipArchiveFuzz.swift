// Whole update archives through libzip and ZipExtractor into a staging
// folder on tmpfs (slow: run with a small -max_len), through descriptors as
// the update worker does. Invariants: a refused archive leaves the staging
// folder empty and a one-line remark; an accepted one
// wrote only regular files and folders under staging/SmartMeter (and the
// one CA file, certs/cacert.pem, and the three programs in bin/, with their folders), no
// setuid/setgid/sticky bits nor group or other write, exactly the files and bytes it reports, and a
// valid manifest when it has one.
import Foundation
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_zip_archive_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

let folder = scratchFolder("zip")
let archive = folder + "/update.zip"
let staging = folder + "/staging"
let limits = ExtractionLimits(maximumEntries: 64, maximumBytes: 1 << 20, maximumRatio: 100, reserveBytes: 0)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let file: FileDescriptor
    let folder: Folder
    do {
        try Files.writeAtomically(archive, bytes: input)
        try Files.makeFolder(staging, mode: 0o700)
        file = try Folder.openRegularFile(archive)
        folder = try Folder.open(staging)
    } catch { fatalError("cannot set up \(archive): \(error)") }
    defer {
        file.close()
        folder.close()
        try? Files.removeTree(staging)
    }

    let extraction: Extraction
    do {
        extraction = try ZipExtractor.extract(archive: file, into: folder, limits: limits)
    } catch {
        expect(isOneLine(error.remark), "refusal: \(error.remark)")
        expect((try? FileManager.default.contentsOfDirectory(atPath: staging))?.isEmpty == true, "refused archive left files in \(staging)")
        return 0
    }
    var files = 0
    var bytes: Int64 = 0
    let fm = FileManager.default
    for item in (fm.subpaths(atPath: staging) ?? []) {
        let isCA = item == "certs" || item == CARotation.archivePath
        let isProgram = item == AgentPrograms.archiveFolder || AgentPrograms.isProgram(item.split(separator: "/").map(String.init))
        expect(isCA || isProgram || item == "SmartMeter" || item.hasPrefix("SmartMeter/"),
               "wrote \(item) outside SmartMeter/, the CA file and the agent's programs")
        let attributes: [FileAttributeKey: Any]
        do { attributes = try fm.attributesOfItem(atPath: staging + "/" + item) } catch { fatalError("cannot stat \(item)") }
        let type = attributes[.type] as? FileAttributeType
        let permissions = (attributes[.posixPermissions] as? Int) ?? 0
        expect(permissions & ~0o755 == 0, "\(item) has mode \(String(permissions, radix: 8))")
        if type == .typeRegular {
            files += 1
            bytes += (attributes[.size] as? Int64) ?? Int64((attributes[.size] as? Int) ?? 0)
            expect(permissions & 0o600 == 0o600, "file \(item) not owner read-write")
        } else {
            expect(type == .typeDirectory && permissions & 0o700 == 0o700, "\(item) is not a file or an owned folder")
        }
    }
    expect(files == extraction.files && bytes == extraction.bytes, "wrote \(files) files, \(bytes) bytes; reported \(extraction.files), \(extraction.bytes)")
    expect(bytes <= limits.maximumBytes, "wrote more than the limit")
    if let manifest = extraction.manifest {
        expect(manifest.processes.allSatisfy { UpdateManifest.isProcessName($0.name) }, "manifest names")
    }
    return 0
}
