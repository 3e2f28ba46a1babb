//! Fixture builders the test suites share: a file written with its folders, and the shapes of
//! an agent, a slash command and a skill as Claude Code keeps them.

use std::fs;
use std::path::Path;

/// Writes `bytes` to `path`, creating its folders; panics naming the path when it cannot.
pub fn write_file(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// An agent file: `name`, `description` and two tools in the frontmatter, a short prompt.
pub fn agent_file(name: &str, description: &str) -> String {
    format!(
        "---\nname: {name}\ndescription: {description}\ntools: Read, Grep\n---\nYou are {name}. Focus on correctness.\n"
    )
}

/// A slash command file: its `description`, and `body` (which may use `$ARGUMENTS`).
pub fn command_file(description: &str, body: &str) -> String {
    format!("---\ndescription: {description}\n---\n{body}\n")
}

/// A skill's `SKILL.md`: `name` and `description` in the frontmatter, then `body`.
pub fn skill_file(name: &str, description: &str, body: &str) -> String {
    format!("---\nname: {name}\ndescription: {description}\n---\n{body}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_with_their_folders() {
        let dir = std::env::temp_dir().join(format!("jarvis-testkit-{}", std::process::id()));
        let path = dir.join("a/b/agent.md");
        write_file(&path, agent_file("x", "Does x"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("---\nname: x\ndescription: Does x\n"),
            "{text}"
        );
        assert!(command_file("Lint", "Lint $ARGUMENTS").ends_with("---\nLint $ARGUMENTS\n"));
        assert!(skill_file("notes", "Takes notes.", "Write notes.").contains("name: notes\n"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
