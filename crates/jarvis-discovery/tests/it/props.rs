//! Property tests: frontmatter parsing never panics, whatever the bytes.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (fields, diagnostics) = jarvis_discovery::parse_frontmatter_lossy(&bytes);
        // Fields only ever come from a block that opens the file with `---`.
        if fields.is_some() {
            let text = String::from_utf8_lossy(&bytes);
            let opens = text.trim_start_matches('\u{FEFF}').starts_with("---");
            prop_assert!(opens, "fields from input that does not open with ---");
        }
        prop_assert!(diagnostics.iter().all(|d| !d.message.is_empty()));
    }

    #[test]
    fn frontmatter_shaped_input_never_panics(
        yaml in "([a-z:>|\\-\\[\\]{}'\" \t#&*!%@`,.?]{0,20}\n){0,12}",
        body in ".{0,200}",
    ) {
        let text = format!("---\n{yaml}---\n{body}");
        let (fields, diagnostics) = jarvis_discovery::parse_frontmatter_lossy(text.as_bytes());
        // A closed block yields fields or a diagnostic saying why not.
        prop_assert!(fields.is_some() || !diagnostics.is_empty());
    }

    #[test]
    fn crlf_and_bom_do_not_change_the_fields(
        name in "[a-z][a-z0-9-]{0,20}",
        description in "[A-Za-z][A-Za-z0-9 ,.]{0,60}",
    ) {
        let unix = format!("---\nname: {name}\ndescription: {description}\n---\nbody\n");
        let windows = format!("\u{FEFF}{}", unix.replace('\n', "\r\n"));
        let (a, _) = jarvis_discovery::parse_frontmatter_lossy(unix.as_bytes());
        let (b, _) = jarvis_discovery::parse_frontmatter_lossy(windows.as_bytes());
        prop_assert_eq!(a, b);
    }
}
