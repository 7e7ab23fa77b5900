import RNNText

/// Keeps the harness free of a direct RNNText dependency in its entry file.
struct TokenizerWorkspaceBox {
    var workspace = TokenizerWorkspace()
}
