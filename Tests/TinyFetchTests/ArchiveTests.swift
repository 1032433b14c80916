import Foundation
import Testing
@testable import TinyFetch
@testable import TinyBase
import TestSupport

/// Real zips from tests/update/zips.py, extracted by ZipExtractor.
@Suite final class ArchiveTests {
    let folder = NSTemporaryDirectory() + "tinyagent-archive-\(UUID().uuidString)"
    var staging: String { folder + "/staging" }
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    init() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    /// `zips.py KIND` into the test folder.
    func zip(_ kind: String, _ options: [String] = []) throws -> String {
        let path = "\(folder)/\(kind).zip"
        try runTool("python3", ["\(Self.repository)/tests/update/zips.py", kind, path] + options)
        return path
    }

    /// Extracts the archive at `archive` into the (new or empty) staging
    /// folder, through descriptors as the update worker does.
    @discardableResult
    func extract(_ archive: String, limits: ExtractionLimits = ExtractionLimits(),
                 progress: (Int64, Int64) -> Void = { _, _ in }) throws(ArchiveError) -> Extraction {
        try? FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let file: FileDescriptor
        let folder: Folder
        do {
            file = try Folder.openRegularFile(archive)
            folder = try Folder.open(staging)
        } catch {
            throw .cannotOpen(path: archive, reason: error.description)
        }
        defer { file.close(); folder.close() }
        return try ZipExtractor.extract(archive: file, into: folder, limits: limits, progress: progress)
    }

    func refusal(_ archive: String, limits: ExtractionLimits = ExtractionLimits()) -> String? {
        do {
            try extract(archive, limits: limits)
            return nil
        } catch {
            return error.remark
        }
    }

    /// The staging folder holds nothing.
    var stagingIsEmpty: Bool { (try? FileManager.default.contentsOfDirectory(atPath: staging))?.isEmpty ?? true }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    /// Relative path → (bytes, mode) for everything under `root`; folders have nil bytes.
    func tree(_ root: String) throws -> [String: (Data?, Int)] {
        var out: [String: (Data?, Int)] = [:]
        let enumerator = try #require(FileManager.default.enumerator(atPath: root))
        while let relative = enumerator.nextObject() as? String {
            let full = root + "/" + relative
            var isFolder: ObjCBool = false
            FileManager.default.fileExists(atPath: full, isDirectory: &isFolder)
            out[relative] = (isFolder.boolValue ? nil : try Data(contentsOf: URL(fileURLWithPath: full)), try mode(full))
        }
        return out
    }

    @Test func aCAInCertsIsUnpackedBesideSmartMeterAndTheRestOfCertsIsNamedAsIgnored() throws {
        let archive = try zip("good")
        try runTool("python3", ["-c", """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "a") as z:
                z.writestr("certs/cacert.pem", "PEM")
                z.writestr("certs/update-keys/k.pem", "KEY")
            """, archive])
        let result = try extract(archive)
        #expect(result.ignored == ["__MACOSX/", "README.txt", "certs/update-keys/k.pem"])
        let files = try tree(staging)
        #expect(files["certs/cacert.pem"]?.0 == Data("PEM".utf8))
        #expect(files["certs/update-keys"] == nil && files["certs/update-keys/k.pem"] == nil)
    }

    /// A zip of `entries` (name → text; a name ending in "/" is a folder), made by Python's zipfile.
    func archive(_ name: String, _ entries: [String: String]) throws -> String {
        let path = "\(folder)/\(name).zip"
        let pairs = entries.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
        try runTool("python3", ["-c", """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "w") as z:
                for name, text in zip(sys.argv[2::2], sys.argv[3::2]):
                    z.writestr(name, text)
            """, path] + pairs)
        return path
    }

    static let programs = ["bin/tinyagent": "A", "bin/tinyagent-link": "L", "bin/tinyagent-fetch": "F"]

    @Test func anArchiveWithOnlyACAUnpacksItWithNoSmartMeter() throws {
        let result = try extract(try archive("ca-only", ["certs/cacert.pem": "PEM", "README.txt": "hi"]))
        #expect(result.ignored == ["README.txt"] && result.files == 1 && result.manifest == nil)
        #expect(Set(try tree(staging).keys) == ["certs", "certs/cacert.pem"])
    }

    @Test func anArchiveWithTheAgentsThreeProgramsUnpacksThemAndNamesOtherFilesInBinAsIgnored() throws {
        var entries = Self.programs
        entries["bin/helper.sh"] = "#!/bin/sh"
        entries["bin/tools/tinyagent"] = "nested"
        let result = try extract(try archive("bin-only", entries))
        #expect(result.ignored == ["bin/helper.sh", "bin/tools/tinyagent"])
        let files = try tree(staging)
        #expect(Set(files.keys) == ["bin", "bin/tinyagent", "bin/tinyagent-link", "bin/tinyagent-fetch"])
        #expect(files["bin/tinyagent-link"]?.0 == Data("L".utf8))
    }

    @Test func anArchiveWithSomeOfTheProgramsIsRefusedNamingTheMissingOnesAndLeavesNothing() throws {
        var entries = Self.programs
        entries["bin/tinyagent-fetch"] = nil
        entries["certs/cacert.pem"] = "PEM"
        #expect(refusal(try archive("partial", entries)) == "archive: bin/ lacks tinyagent-fetch: the agent's programs are "
                + "replaced together (tinyagent, tinyagent-link, tinyagent-fetch, or none)")
        #expect(stagingIsEmpty)
    }

    /// `zip -r u.zip SmartMeter bin certs` writes bare `bin/` and `certs/`
    /// entries: containers only, made by what is taken from them. Kept, they
    /// left an empty staged folder the agent refused after the whole unpack.
    @Test func bareBinAndCertsFoldersAreMadeOnlyForWhatIsTakenFromThem() throws {
        let ignoredOnly = try extract(try archive("containers", ["SmartMeter/a.py": "a", "bin/": "", "bin/run.sh": "x",
                                                                 "certs/": "", "certs/other.pem": "P"]))
        #expect(ignoredOnly.ignored == ["bin/run.sh", "certs/other.pem"])
        #expect(Set(try tree(staging).keys) == ["SmartMeter", "SmartMeter/a.py"])
        try FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        var entries = Self.programs
        entries["bin/"] = ""
        entries["certs/"] = ""
        entries["certs/cacert.pem"] = "PEM"
        let taken = try extract(try archive("with-folders", entries))
        #expect(taken.ignored.isEmpty, "a container is not an entry left out")
        #expect(Set(try tree(staging).keys) == ["bin", "bin/tinyagent", "bin/tinyagent-link", "bin/tinyagent-fetch",
                                                "certs", "certs/cacert.pem"])
    }

    @Test func anArchiveWithOnlyIgnoredNamesInBinAndCertsHasNothingToInstall() throws {
        let remark = refusal(try archive("nothing", ["bin/": "", "bin/run.sh": "x", "certs/": "", "certs/other.pem": "P", "App/a": "a"]))
        #expect(remark == "archive: nothing to install: no SmartMeter/ folder, no certs/cacert.pem, no agent programs in bin/")
        #expect(stagingIsEmpty)
    }

    @Test func aGoodArchiveUnpacksItsSmartMeterTreeOnly() throws {
        var calls: [(Int64, Int64)] = []
        let result = try extract(try zip("good")) { calls.append(($0, $1)) }
        #expect(result.files == 3 && result.folders == 3)  // SmartMeter, lib, data
        #expect(result.ignored == ["__MACOSX/", "README.txt"])
        #expect(result.manifest == UpdateManifest(processes: [.init(name: "meter_reader", runCommand: "python3 meter_reader.py")]))
        let files = try tree(staging)
        #expect(Set(files.keys) == ["SmartMeter", "SmartMeter/meter_reader.py", "SmartMeter/lib",
                                    "SmartMeter/lib/tinyagent_heartbeat.py", "SmartMeter/data", "SmartMeter/tinyagent.json"])
        #expect(files["SmartMeter/meter_reader.py"]?.1 == 0o755)
        #expect(files["SmartMeter/lib/tinyagent_heartbeat.py"]?.1 == 0o644)
        #expect(files["SmartMeter/data"]?.1 == 0o755 && files["SmartMeter/lib"]?.1 == 0o755)
        let helper = try Data(contentsOf: URL(fileURLWithPath: "\(Self.repository)/helpers/python/tinyagent_heartbeat.py"))
        #expect(files["SmartMeter/lib/tinyagent_heartbeat.py"]?.0 == helper)
        #expect(result.bytes == files.values.reduce(0) { $0 + Int64($1.0?.count ?? 0) })
        #expect(calls.last.map { $0.0 == result.bytes && $0.1 == result.bytes } == true)
        #expect(Swift.zip(calls.dropLast(), calls.dropFirst()).allSatisfy { $0.0 <= $1.0 })
    }

    /// Info-ZIP's unzip is the reference: same files, same bytes, same
    /// executable bits.
    @Test(arguments: [[], ["--process", "a:1.0.1", "--process", "b:2.0.0:python3 b.py --fast", "--size", "3000000"]])
    func extractionMatchesInfoZipUnzip(options: [String]) throws {
        let archive = try zip("good", options)
        try extract(archive)
        let reference = folder + "/unzip"
        try runTool("unzip", ["-q", archive, "SmartMeter/*", "-d", reference])
        let ours = try tree(staging), theirs = try tree(reference)
        #expect(Set(ours.keys) == Set(theirs.keys))
        for (path, (bytes, mode)) in theirs {
            #expect(ours[path]?.0 == bytes, "\(path)")
            #expect(ours[path].map { $0.1 & 0o111 } == mode & 0o111, "\(path)")
        }
    }

    @Test func entriesWithoutUnixModesGetDefaultModes() throws {
        let result = try extract(try zip("dos"))
        #expect(result.files == 3)
        #expect(try mode(staging + "/SmartMeter/meter_reader.py") == 0o644)
        #expect(try mode(staging + "/SmartMeter/data") == 0o755)
    }

    @Test(arguments: [
        ("no-smartmeter", "archive: nothing to install: no SmartMeter/ folder, no certs/cacert.pem, no agent programs in bin/"),
        ("smartmeter-file", "archive: SmartMeter is a file, not a folder"),
        ("zip-slip", "archive: entry SmartMeter/../../evil escapes the folder"),
        ("absolute", "archive: entry /tmp/evil is an absolute path"),
        ("backslash", "archive: entry SmartMeter\\evil has a backslash in its name"),
        ("symlink", "archive: entry SmartMeter/link is a symbolic link"),
        ("device", "archive: entry SmartMeter/dev is a special file"),
        ("fifo", "archive: entry SmartMeter/fifo is a special file"),
        ("duplicate", "archive: entry SmartMeter/tinyagent.json appears twice or is both a file and a folder"),
        ("conflict", "archive: entry SmartMeter/data appears twice or is both a file and a folder"),
        ("bomb-ratio", "archive: entry SmartMeter/zeros.bin compresses 1028:1 (zip bomb?)"),
        ("over-cap", "archive: 10001 entries, more than the 10000 allowed"),
        ("crc-corrupt", "archive: CRC error in SmartMeter/stored.bin"),
        ("lying-size", "archive: entry SmartMeter/big.txt holds more than the 1000 bytes its header says"),
        ("encrypted", "archive: entry SmartMeter/tinyagent.json is encrypted"),
        ("bad-manifest", "archive: SmartMeter/tinyagent.json: process 1 at 1:16: invalid name \"../x\" at 1:17"),
        ("not-a-zip", "archive: not a zip file (Not a zip archive)"),
    ])
    func hostileArchivesAreRefusedAndLeaveNothing(kind: String, remark: String) throws {
        let refused = refusal(try zip(kind))
        #expect(refused == remark)
        #expect(stagingIsEmpty)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder)) == ["\(kind).zip", "staging"])
    }

    /// A SmartMeter/ tree in `folder/src`: an executable script, a module in a
    /// subfolder (compressible: every tool compresses it) and 300 KB of random bytes.
    func sourceTree() throws -> String {
        let source = folder + "/src"
        try FileManager.default.createDirectory(atPath: source + "/SmartMeter/lib", withIntermediateDirectories: true)
        try Data("#!/usr/bin/env python3\nprint('ocr')\n".utf8).write(to: URL(fileURLWithPath: source + "/SmartMeter/ocr.py"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: source + "/SmartMeter/ocr.py")
        let module = String(repeating: "READINGS.append(42)\n", count: 2000)
        try Data(module.utf8).write(to: URL(fileURLWithPath: source + "/SmartMeter/lib/meterlib.py"))
        var generator = SystemRandomNumberGenerator()
        let random = Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try random.write(to: URL(fileURLWithPath: source + "/SmartMeter/lib/model.bin"))
        return source
    }

    /// Real tools, not Python's zipfile: bsdtar (libarchive), Info-ZIP with forced
    /// zip64 and writing to a pipe (data descriptors), bzip2 entries, 7-Zip. Each was
    /// refused as "Zip archive inconsistent" while the archive was opened with
    /// ZIP_CHECKCONS.
    @Test(arguments: [
        "zip -q -r ARCHIVE SmartMeter",
        "zip -q -r -fz ARCHIVE SmartMeter",
        "zip -q -r - SmartMeter | cat > ARCHIVE",
        "zip -q -r -Z bzip2 ARCHIVE SmartMeter",
        "bsdtar -a -cf ARCHIVE SmartMeter",
        "7z a -tzip -bd ARCHIVE SmartMeter > /dev/null",
    ])
    func archivesFromCommonToolsUnpackAsTheyWereMade(command: String) throws {
        let source = try sourceTree()
        let archive = folder + "/tool.zip"
        try runTool("sh", ["-c", "cd '\(source)' && " + command.replacingOccurrences(of: "ARCHIVE", with: archive)])
        let result = try extract(archive)
        #expect(result.files == 3)
        let made = try tree(source + "/SmartMeter"), unpacked = try tree(staging + "/SmartMeter")
        #expect(Set(made.keys) == Set(unpacked.keys))
        for (path, (bytes, mode)) in made {
            #expect(unpacked[path]?.0 == bytes, "\(path)")
            #expect(unpacked[path].map { $0.1 & 0o111 } == mode & 0o111, "\(path)")
        }
    }

    @Test func anArchiveShapedLikeMacOSArchiveUtilitysUnpacks() throws {
        let result = try extract(try zip("macos"))
        #expect(result.files == 3)
        #expect(result.manifest?.processes.map { $0.name } == ["meter_reader"])
        #expect(result.ignored == ["__MACOSX/", "README.txt"])
    }

    /// 7-Zip's other methods: named in the remark, before anything is written.
    @Test(arguments: ["Deflate64", "LZMA", "PPMd"])
    func anUnsupportedCompressionMethodIsNamedWithItsEntry(method: String) throws {
        let source = try sourceTree()
        let archive = folder + "/method.zip"
        try runTool("sh", ["-c", "cd '\(source)' && 7z a -tzip -bd -m0=\(method) '\(archive)' SmartMeter > /dev/null"])
        let remark = try #require(refusal(archive))
        #expect(remark.hasPrefix("archive: entry SmartMeter/"))
        #expect(remark.hasSuffix(" is compressed with \(method), which the agent cannot unpack (use Deflate)"))
        #expect(stagingIsEmpty)
    }

    @Test func declaredSizesAreCappedBeforeAnythingIsRead() throws {
        #expect(refusal(try zip("over-cap", ["--declared"])) == "archive: unpacks to more than 536870912 bytes")
        let good = try zip("good", ["--size", "2000000"])
        #expect(refusal(good, limits: ExtractionLimits(maximumBytes: 1_000_000)) == "archive: unpacks to more than 1000000 bytes")
        #expect(refusal(good, limits: ExtractionLimits(maximumEntries: 8)) == "archive: 9 entries, more than the 8 allowed")
        #expect(stagingIsEmpty)
    }

    @Test func theRatioRuleSparesSmallFilesAndHonoursTheLimit() throws {
        // A 64 KiB file of zeros compresses far beyond 100:1 but is under 1 MiB.
        let small = try zip("good", ["--no-extras"])
        #expect(refusal(small, limits: ExtractionLimits(maximumRatio: 1)) == nil)
        try FileManager.default.removeItem(atPath: staging)
        let bomb = try zip("bomb-ratio")
        let result = try extract(bomb, limits: ExtractionLimits(maximumRatio: 2000))
        #expect(result.bytes > 50 << 20)
    }

    @Test func aFreeSpaceShortageIsFoundBeforeWriting() throws {
        let message = try #require(refusal(try zip("good"), limits: ExtractionLimits(reserveBytes: 1 << 60)))
        #expect(message.hasPrefix("archive: not enough free space (need "))
        #expect(stagingIsEmpty)
    }

    @Test func groupAndOtherWriteAndSpecialBitsAreNeverUnpacked() throws {
        try extract(try zip("world-writable"))
        let files = try tree(staging)
        #expect(files["SmartMeter/meter_reader.py"]?.1 == 0o755)
        #expect(files["SmartMeter/lib"]?.1 == 0o755 && files["SmartMeter"]?.1 == 0o755)
        #expect(files.values.allSatisfy { $0.1 & 0o7022 == 0 }, "\(files.mapValues { String($0.1, radix: 8) })")
    }

    @Test func theArchiveIsReadFromTheDescriptorNotItsPath() throws {
        let good = try zip("good")
        let file = try Folder.openRegularFile(good)
        defer { file.close() }
        // Replaced by another archive after it was opened: the open one is unpacked.
        try FileManager.default.removeItem(atPath: good)
        try FileManager.default.copyItem(atPath: try zip("no-smartmeter"), toPath: good)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        let folder = try Folder.open(staging)
        defer { folder.close() }
        #expect(try ZipExtractor.extract(archive: file, into: folder).files == 3)
    }
}
