import CZip
import TinyBase

/// One entry of an archive's central directory, as libzip reports it.
package struct ZipEntry {
    package var index: UInt64
    /// The name's bytes as stored (`ZIP_FL_ENC_RAW`).
    var rawName: [UInt8]
    /// Declared uncompressed size.
    package var size: UInt64
    var compressedSize: UInt64
    var isEncrypted: Bool
    /// The compression method (`ZIP_CM_*`), as stored.
    var compressionMethod: UInt16
    /// `st_mode` from the external attributes of an entry made on Unix, nil
    /// when it has none (made elsewhere, or a zero mode).
    package var unixMode: UInt32?
}

/// A zip archive open for reading: the libzip calls extraction needs, all
/// present in Buster's libzip 1.5.1.
package struct ZipArchive {
    private let handle: OpaquePointer

    /// `zip_fdopen` on the open file `archive` (through a copy of the
    /// descriptor, which libzip closes): the very file that was downloaded
    /// and hashed, never whatever a path names later. Not with
    /// `ZIP_CHECKCONS`: it refuses valid archives that common tools write
    /// (bsdtar, Info-ZIP's forced zip64 and its output to a pipe, data
    /// descriptors as macOS writes them). What it guarded is checked here
    /// instead: only the central directory's names are used (and checked by
    /// `EntryName`), a name twice is a conflict in the plan, each entry is
    /// held to its declared size while it is read and libzip checks its CRC
    /// at the end.
    package static func open(_ archive: FileDescriptor) throws(ArchiveError) -> ZipArchive {
        let copy: FileDescriptor
        do { copy = try archive.duplicate() } catch { throw .cannotOpen(path: "the archive", reason: error.description) }
        var code: Int32 = 0
        let handle = zip_fdopen(copy.rawValue, 0, &code)
        if let handle { return ZipArchive(handle: handle) }
        copy.close()
        let reason = describe(code)
        switch code {
        case ZIP_ER_NOENT, ZIP_ER_OPEN: throw .cannotOpen(path: "the archive", reason: reason)
        case ZIP_ER_NOZIP: throw .notAZip(reason: reason)
        default: throw .unreadable(reason: reason)
        }
    }

    /// libzip's text for an error code (`zip_error_strerror`); for a system
    /// error it appends errno, so call it right after the failing call.
    private static func describe(_ code: Int32) -> String {
        var error = zip_error_t()
        zip_error_init_with_code(&error, code)
        defer { zip_error_fini(&error) }
        return String(cString: zip_error_strerror(&error))
    }

    /// `zip_discard`: read-only, nothing to write back.
    package func close() { zip_discard(handle) }

    /// `zip_get_num_entries`.
    var entryCount: Int64 { zip_get_num_entries(handle, 0) }

    /// `zip_stat_index` and `zip_file_get_external_attributes` of entry `index`.
    package func entry(at index: UInt64) throws(ArchiveError) -> ZipEntry {
        var stat = zip_stat_t()
        zip_stat_init(&stat)
        guard zip_stat_index(handle, index, ZIP_FL_ENC_RAW, &stat) == 0, let cName = stat.name else {
            throw .unreadable(reason: "entry " + String(index) + ": " + archiveError())
        }
        let needed = UInt64(ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD)
        guard stat.valid & needed == needed else { throw .unreadable(reason: "entry " + String(index) + " has no sizes") }
        var rawName: [UInt8] = []
        var p = cName
        while p.pointee != 0 { rawName.append(UInt8(bitPattern: p.pointee)); p += 1 }

        var system: UInt8 = 0
        var attributes: UInt32 = 0
        guard zip_file_get_external_attributes(handle, index, 0, &system, &attributes) == 0 else {
            throw .unreadable(reason: "entry " + String(index) + ": " + archiveError())
        }
        let encrypted = stat.valid & UInt64(ZIP_STAT_ENCRYPTION_METHOD) != 0 && stat.encryption_method != UInt16(ZIP_EM_NONE)
        return ZipEntry(index: index, rawName: rawName, size: stat.size, compressedSize: stat.comp_size,
                        isEncrypted: encrypted, compressionMethod: stat.comp_method, unixMode: EntryAttributes.unixMode(system: system, attributes: attributes))
    }

    /// `zip_fopen_index`: the entry's data, decompressed, CRC-checked at its end.
    package func open(_ entry: ZipEntry, name: String) throws(ArchiveError) -> ZipEntryReader {
        guard let file = zip_fopen_index(handle, entry.index, 0) else {
            throw .readFailed(name: name, reason: archiveError())
        }
        return ZipEntryReader(handle: file, name: name)
    }

    private func archiveError() -> String { String(cString: zip_strerror(handle)) }
}

/// One entry's data being read.
package struct ZipEntryReader {
    fileprivate let handle: OpaquePointer
    package let name: String

    /// `zip_fread`: bytes read, 0 at the end. libzip compares the CRC when
    /// the data ends and fails the read on a mismatch.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int {
        let n = zip_fread(handle, buffer.baseAddress!, UInt64(buffer.count))
        if n >= 0 { return Int(n) }
        if zip_error_code_zip(zip_file_get_error(handle)) == ZIP_ER_CRC { throw .crc(name: name) }
        throw .readFailed(name: name, reason: String(cString: zip_file_strerror(handle)))
    }

    /// `zip_fclose`.
    package func close() { _ = zip_fclose(handle) }
}
