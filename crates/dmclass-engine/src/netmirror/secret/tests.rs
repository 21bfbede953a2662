use super::*;

#[test]
fn secrets_are_checked_as_the_kernel_checks_them() {
    for (hash, len) in [("00", 32), ("01", 32), ("02", 48), ("03", 64)] {
        assert!(
            DhchapKey::parse(&test_key(hash, 7, len)).is_ok(),
            "{hash} {len}"
        );
    }
    // What `nvme gen-dhchap-key` printed for a 32-byte key (nvme-cli's documentation).
    let good = test_key("00", 0x5a, 32);
    let mut wrong_crc = good.clone().into_bytes();
    // Flip one base64 character inside the key part.
    wrong_crc[12] = if wrong_crc[12] == b'A' { b'B' } else { b'A' };
    let wrong_crc = String::from_utf8(wrong_crc).unwrap_or_default();
    for (bad, why) in [
        (good.trim_end_matches(':').to_owned(), "form"),
        (good.replacen("DHHC-1", "DHHC-2", 1), "DHHC-1"),
        (good.replacen(":00:", ":04:", 1), "transformation"),
        (test_key("00", 1, 16), "16 bytes"),
        (test_key("00", 1, 33), "33 bytes"),
        ("DHHC-1:00:not*base64:".to_owned(), "base64"),
        (wrong_crc, "checksum"),
    ] {
        let e = DhchapKey::parse(&bad).err().unwrap_or_default();
        assert!(e.contains(why), "{bad}: {e}");
        // The reason never quotes the secret.
        assert!(!e.contains(&bad[10..20]), "{e}");
    }
}

#[test]
fn a_secret_never_shows_in_debug_output() {
    let text = test_key("01", 3, 32);
    let k = DhchapKey::parse(&text).ok();
    let shown = format!("{k:?}");
    assert!(!shown.contains(&text[10..]), "{shown}");
    assert!(shown.contains("<secret>"));
    let s = Secrets::parse(
        &format!("node1 {text}\nnode2 {}\n", test_key("01", 4, 32)),
        &["node1", "node2"],
    );
    let shown = format!("{s:?}");
    assert!(!shown.contains(&text[10..]), "{shown}");
}

#[test]
fn the_file_names_each_node_once_with_its_own_secret() {
    let (ka, kb) = (test_key("00", 1, 32), test_key("00", 2, 32));
    let nodes = ["node1", "node2"];
    let s = Secrets::parse(
        &format!("# nm's links\n\nnode1 {ka}\n  node2\t{kb}  \n"),
        &nodes,
    );
    let Ok(s) = s else {
        panic!("{s:?}");
    };
    // node1 connects to node2's export: it proves a, node2's export proves b.
    let conn = s.connecting("node1", "node2");
    assert_eq!(conn.as_ref().map(|c| c.host.expose()), Some(ka.as_str()));
    assert_eq!(conn.as_ref().map(|c| c.ctrl.expose()), Some(kb.as_str()));
    // node2's export expects what node1 proves, and proves what node1 expects.
    assert_eq!(s.exporting("node2", "node1"), conn);
    assert_eq!(s.connecting("node1", "node3"), None);
    for (text, why) in [
        (format!("node1 {ka}\n"), "no secret for node node2"),
        (format!("node1 {ka}\nnode2 {ka}\n"), "same secret"),
        (format!("node1 {ka}\nnode1 {kb}\n"), "listed twice"),
        (format!("node1 {ka}\nnode3 {kb}\n"), "not a node"),
        (format!("node1 {ka} extra\nnode2 {kb}\n"), "NODE SECRET"),
        (format!("node1\nnode2 {kb}\n"), "NODE SECRET"),
        (
            format!("node1 {ka}\nnode2 xyz\n"),
            "line 2: the secret does not start",
        ),
    ] {
        let e = Secrets::parse(&text, &nodes).err().unwrap_or_default();
        assert!(e.contains(why), "{text:?}: {e}");
    }
}

#[test]
fn only_a_small_regular_file_of_roots_that_only_root_reads() {
    let ok = FileFacts {
        regular: true,
        uid: 0,
        mode: 0o100_600,
        len: 200,
    };
    assert_eq!(file_problem(&ok), None);
    assert_eq!(
        file_problem(&FileFacts {
            mode: 0o100_400,
            ..ok
        }),
        None
    );
    for (facts, why) in [
        (
            FileFacts {
                regular: false,
                ..ok
            },
            "regular",
        ),
        (FileFacts { uid: 1000, ..ok }, "uid 1000"),
        (
            FileFacts {
                mode: 0o100_640,
                ..ok
            },
            "0640",
        ),
        (
            FileFacts {
                mode: 0o100_604,
                ..ok
            },
            "0604",
        ),
        (
            FileFacts {
                mode: 0o100_620,
                ..ok
            },
            "0620",
        ),
        (
            FileFacts {
                len: MAX_FILE + 1,
                ..ok
            },
            "4097 bytes",
        ),
    ] {
        let e = file_problem(&facts).unwrap_or_default();
        assert!(e.contains(why), "{facts:?}: {e}");
    }
}

#[test]
fn load_checks_the_open_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("dmclass-secret-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("nm.secrets");
    let text = format!(
        "node1 {}\nnode2 {}\n",
        test_key("00", 1, 32),
        test_key("00", 2, 32)
    );
    assert!(std::fs::write(&path, &text).is_ok());
    let nodes = ["node1", "node2"];
    assert!(std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).is_ok());
    let e = load("nm", &path, &nodes)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("mode 0644") && e.contains("nm.secrets"), "{e}");
    assert!(std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).is_ok());
    // Owned by the user running the tests: root in CI; another user is refused.
    let r = load("nm", &path, &nodes);
    let root = std::fs::metadata(&path).is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    assert_eq!(r.is_ok(), root, "{r:?}");
    let e = load("nm", &dir.join("absent"), &nodes)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("cannot be read"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
