"""Action arguments the tests share."""

#: PrepareForConnection arguments the default renderer accepts: MP3 in, no peer.
MP3_INPUT = {
    "RemoteProtocolInfo": "http-get:*:audio/mpeg:*",
    "PeerConnectionManager": "",
    "PeerConnectionID": -1,
    "Direction": "Input",
}
