/// Byte-exact vectors transcribed from the shared Holepunch vectors (`noise` and `secret_stream`
/// sections), produced by the real JavaScript modules with fixed randomness.
enum Vectors {
  enum IK {
    static let prologue = "14d6d4b49214ab1033ed204976caa258bae9e1e8543b9ad1fd996a910b0c4e3a"
    static let initiatorSeed = [UInt8](repeating: 0x01, count: 32)
    static let initiatorPublicKey = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    static let responderSeed = [UInt8](repeating: 0x02, count: 32)
    static let responderPublicKey = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
    static let initiatorEphemeralSeed = [UInt8](repeating: 0x11, count: 32)
    static let responderEphemeralSeed = [UInt8](repeating: 0x22, count: 32)
    static let message1PayloadEncoded = "011a000201c0a8010a49c20100010001"
    static let message1 =
      "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737ee2ab23229cd3bdd67ff192ecdecdb11818b6d37088d5ca864cbaef2f64106df24ef76609640209a7b1f2abe3a5e46a283c72eb7d92c01306394721afb4462ec7ae3c3be17ddf795a54342fadc6d9e27"
    static let message2PayloadEncoded = "011b000001015863035649c2cb007107409c010a0000024ac20100070001"
    static let message2 =
      "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f02ca44ab8fc618ab62f899108bb924209d08ff3006dd2b95306e19f7bbb6f38e8530ca2b6a94a1f02762a41c05601"
    static let handshakeHash =
      "092fd8b69cb3e5c99e711185537ae07058241b7aae2ff127cffe288eb11482446dbe46e6b6ef2bb65959271dfbd7108474276f868e60ad6ac87823931cdfbec1"
    static let initiatorTx = "e2640f1d3cf0f37a464960722b2d458efa350d2276ff69934a90fa323289bcf4"
    static let initiatorRx = "519f1928b078fa965804780de1134a9f740ef77f62547048ab623a1e0cb621f0"
    static let holepunchSecret = "6fd8f19651946322b931ce0f8781722153e45125aa8c75390759ff2ed99e9c60"
  }

  enum IKRaw {
    static let message1 =
      "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737ee2ab23229cd3bdd67ff192ecdecdb11818b6d37088d5ca864cbaef2f64106df24ef76609640209a7b1f2abe3a5e46a2eab842d9b7eb6755d07a153cde35378db83d9b66fb"
    static let message2 =
      "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f05ad038d499f8518e1af2b9fbe2446e3a7a53c67aac"
    static let handshakeHash =
      "2f31ad5865ea15a26d6dae45ec609f13c709b24e0511e4af16451a14d6146aa13dc02ce23e7b8cfb496ce1e420e9705b68eb8f24ea712cdaf24190e995a16e54"
  }

  /// One XX handshake vector.
  struct XX: Sendable, CustomStringConvertible {
    var name: String
    var ed25519: Bool
    var initiatorStatic: [UInt8]
    var responderStatic: [UInt8]
    var initiatorEphemeral: [UInt8]
    var responderEphemeral: [UInt8]
    var payloads: [String]
    var messages: [String]
    var handshakeHash: String
    var initiatorTx: String
    var initiatorRx: String
    var initiatorPublicKey: String
    var responderPublicKey: String
    var description: String { name }
  }

  static let xx: [XX] = [
    XX(
      name: "xx_x25519_empty_payloads", ed25519: false, initiatorStatic: [UInt8](repeating: 3, count: 32),
      responderStatic: [UInt8](repeating: 4, count: 32),
      initiatorEphemeral: [UInt8](repeating: 0x33, count: 32),
      responderEphemeral: [UInt8](repeating: 0x44, count: 32), payloads: ["", "", ""],
      messages: [
        "7b0d47d93427f8311160781c7c733fd89f88970aef490d8aa0ee19a4cb8a1b14",
        "ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b1a16f17f1ee5550d235493706b38b7952aeab383304ef9d06690a6d88dc8ae552d0f4c93a03f4f5d57fd967fb76be37f8dd7c756f8a641cf6e3fb31f4ca9746a",
        "ef1808fec1fdc0d304b5b87d78cee8659e60a8830575f270bffca1b7684a743b2ad12d54eba5302b05461c326fe0559edd29d50770c1186c8e1f541b734ca79f",
      ],
      handshakeHash:
        "90b3126004bb1e0725b81966b824bcae8b31d55add0490c38a7b573ee788d14997c857aee02ea1f81dbe37b7d08c8efaa621a29eaeb79806437a1b81e40c1a5a",
      initiatorTx: "f0bd0095c7a4b3eae58cba0d90cfb5ea5b3f0adaee70dd9282d0b993788509d1",
      initiatorRx: "5ba7a85404ae08e2f1594603e0b7939f51509dfcca8c46c6ff94ef3aa2eed402",
      initiatorPublicKey: "5dfedd3b6bd47f6fa28ee15d969d5bb0ea53774d488bdaf9df1c6e0124b3ef22",
      responderPublicKey: "ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10b"),
    XX(
      name: "xx_x25519_with_payloads", ed25519: false, initiatorStatic: [UInt8](repeating: 3, count: 32),
      responderStatic: [UInt8](repeating: 4, count: 32),
      initiatorEphemeral: [UInt8](repeating: 0x33, count: 32),
      responderEphemeral: [UInt8](repeating: 0x44, count: 32), payloads: ["6f6e65", "74776f", "7468726565"],
      messages: [
        "7b0d47d93427f8311160781c7c733fd89f88970aef490d8aa0ee19a4cb8a1b146f6e65",
        "ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b1a16f17f1ee5550d235493706b38b7952aeab383304ef9d06690a6d88dc8ae5566fe388967ec89c229f82e2f3db0388f5880409b2486b0c20ab07cdb49f0228bcc8d9f",
        "ef1808fec1fdc0d304b5b87d78cee8659e60a8830575f270bffca1b7684a743b3e7a794517800d2fa316af1c11535cf5e786e7ab2985f6626e5575d28235d17c5659d6d099",
      ],
      handshakeHash:
        "1b9e15d479894143e8a065cb6c135e6faae3c663f9dd39e9b0a9f5ba6745ded8f4e88ee84a442699ba00c27d0017ac8c2c022a62c7c7ff6bc01f83f40d1a0c9f",
      initiatorTx: "f0bd0095c7a4b3eae58cba0d90cfb5ea5b3f0adaee70dd9282d0b993788509d1",
      initiatorRx: "5ba7a85404ae08e2f1594603e0b7939f51509dfcca8c46c6ff94ef3aa2eed402",
      initiatorPublicKey: "5dfedd3b6bd47f6fa28ee15d969d5bb0ea53774d488bdaf9df1c6e0124b3ef22",
      responderPublicKey: "ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10b"),
    XX(
      name: "xx_ed25519_empty_payloads", ed25519: true, initiatorStatic: [UInt8](repeating: 5, count: 32),
      responderStatic: [UInt8](repeating: 6, count: 32),
      initiatorEphemeral: [UInt8](repeating: 0x55, count: 32),
      responderEphemeral: [UInt8](repeating: 0x66, count: 32), payloads: ["", "", ""],
      messages: [
        "c6822637c7d310ec57627be00ba259d253749f4aaf644470cffbe53a35f73242",
        "34b4d9043156cb6dcf0beb0a2949b7559c940d2bcb6dbe8c53a9b30278e3a7465473c58a410eda256065c92a2b0e9e124d86f5aebfc4478dc57fd920bbfcfcb3368e355e676b90f552d162341ab97ddab7484163460de1b0b907ec449ff4c871",
        "4b5e93427fb4232cd575c33f9d2adb78f9e71a920bd96dbcaeed726cba05cfd0a4e7bc0d54e5fea3921b06267bcba851ab34b3c2b4361010ccdc3ee93f5d81e6",
      ],
      handshakeHash:
        "eaf7b413d9fa118ee9140b34f0442edd846b0c38566266dc0b2d72d598e1bb8b966a180bbbbcbdb341643914a6ed6ba00b846c5130ab0cedcb4337d314934542",
      initiatorTx: "cbef2a24575e7b7bed70b9c29f75b6d52f4f701a1134015ce1244b5c0bfc6364",
      initiatorRx: "3d3d66b2552eaea41824948251e6cc1050f69272d0ff326776a00c39492cb4d6",
      initiatorPublicKey: "6e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1",
      responderPublicKey: "8a875fff1eb38451577acd5afee405456568dd7c89e090863a0557bc7af49f17"),
  ]

  /// `secret_stream.after_ik_hyperdht`.
  enum AfterIK {
    static let initiatorHeader = "101112131415161718191a1b1c1d1e1f2021222324252627"
    static let responderHeader = "303132333435363738393a3b3c3d3e3f4041424344454647"
    static let initiatorStreamId = "227b69feede86f42d8ff270200a086a515e43947054288212b640b142d18261f"
    static let responderStreamId = "859584cf4dfa9f02a2a0a68eb2e59fb571ba0ae93ac977f42d0c7147e0a3076a"
    static let initiatorToResponder = [
      "380000227b69feede86f42d8ff270200a086a515e43947054288212b640b142d18261f101112131415161718191a1b1c1d1e1f2021222324252627",
      "1c0000d883bc6b9de891ff5089ec51f01cc1371b6034da8097b244890b2b8e",
      "170000af0aa523ffffbcb07c8eb1502365d3323ea3800962358b",
    ]
    static let responderToInitiator = [
      "380000859584cf4dfa9f02a2a0a68eb2e59fb571ba0ae93ac977f42d0c7147e0a3076a303132333435363738393a3b3c3d3e3f4041424344454647",
      "1c0000cea1cc7d3dc9dd397a01a2e3142963da9ddef4d950eb1dce767eced7",
    ]
    static let initiatorMessages = ["hello world", "second"]
    static let responderMessages = ["hello world"]
  }

  /// `secret_stream.xx_standalone`: XX over Ed25519 with its wire framing.
  enum XXStandalone {
    static let initiatorToResponder = [
      "200000c6822637c7d310ec57627be00ba259d253749f4aaf644470cffbe53a35f73242",
      "4000004b5e93427fb4232cd575c33f9d2adb78f9e71a920bd96dbcaeed726cba05cfd0a4e7bc0d54e5fea3921b06267bcba851ab34b3c2b4361010ccdc3ee93f5d81e6",
      "380000104e5fb6be5fcbbf72b706eb57c06b9ed913c51d8bbeeec67ec30b04f8c7875c101112131415161718191a1b1c1d1e1f2021222324252627",
      "1c0000baaffdfbbba70852e5ae3738a2237b15c399a696c1ab6b4101356059",
      "170000da6aa29e33c96b1e0edb8dbbe1a8181318a2112367246c",
    ]
    static let responderToInitiator = [
      "60000034b4d9043156cb6dcf0beb0a2949b7559c940d2bcb6dbe8c53a9b30278e3a7465473c58a410eda256065c92a2b0e9e124d86f5aebfc4478dc57fd920bbfcfcb3368e355e676b90f552d162341ab97ddab7484163460de1b0b907ec449ff4c871",
      "380000b204d1eb5b0edc4e0d8c2a12fb159545b06e363ef17c39136cf59310c8edf1de303132333435363738393a3b3c3d3e3f4041424344454647",
    ]
  }
}

extension Vectors {
  /// Decodes a hex string.
  static func bytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var high: UInt8?
    for c in s.utf8 {
      let v: UInt8
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
      default: continue
      }
      if let h = high {
        out.append(h << 4 | v)
        high = nil
      } else {
        high = v
      }
    }
    return out
  }

  /// Encodes bytes as lowercase hex.
  static func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    for b in bytes {
      s.append(digits[Int(b >> 4)])
      s.append(digits[Int(b & 0xf)])
    }
    return s
  }
}
