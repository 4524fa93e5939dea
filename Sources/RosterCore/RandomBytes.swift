import Foundation

/// Random bytes from the operating system's generator (`getentropy`), the source `SystemRandomNumberGenerator` uses,
/// without its one system call per 8 bytes.
public enum RandomBytes {
    /// Fills `buffer` with random bytes.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var offset = 0
        while offset < buffer.count {
            let count = min(256, buffer.count - offset)   // getentropy's limit per call
            guard getentropy(buffer.baseAddress! + offset, count) == 0 else {
                fatalError("The operating system's random generator failed (errno \(errno)).")
            }
            offset += count
        }
    }
}
