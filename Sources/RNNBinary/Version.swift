/// The version of every rnnkit tool and of librnninfer, recorded in what they
/// write (manifests, model files) and returned by `rnn_library_version`.
/// Static, so the C ABI hands out its bytes without allocating;
/// Tools/build-runtime reads it from here for the pkg-config file.
public let rnnkitVersion: StaticString = "0.2.0"
