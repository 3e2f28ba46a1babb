//! Turning a resource and a request into the runner's argv.

use serde::{Deserialize, Serialize};

/// The values the runner template's placeholders take.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunVars {
    /// `{prompt}`: the command's expanded body, or the agent's task.
    pub prompt: String,
    /// `{system_prompt}`: the agent's body; empty for commands.
    pub system_prompt: String,
    /// `{model}`: empty to let the runner choose.
    pub model: String,
    /// `{tools}`: comma-separated; empty for no restriction.
    pub tools: String,
}

/// Splits an argument string the way a shell would split words — spaces separate, quotes group,
/// backslash escapes — without running anything.
pub fn split_arguments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(next) = chars.next() {
                    current.push(next);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(current);
    }
    out
}

/// Expands a command body: `$ARGUMENTS` is everything typed after the command,
/// `$ARGUMENTS[N]` and `$N` the N-th word (0-based, as current Claude Code counts).
pub fn command_prompt(body: &str, arguments: &str) -> String {
    let words = split_arguments(arguments);
    let word = |n: usize| words.get(n).cloned().unwrap_or_default();
    let mut out = String::with_capacity(body.len() + arguments.len());
    let mut rest = body;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix("ARGUMENTS") {
            let index = tail
                .strip_prefix('[')
                .and_then(|t| t.find(']').map(|end| (&t[..end], end)))
                .and_then(|(n, end)| n.parse::<usize>().ok().map(|n| (n, end)));
            match index {
                Some((n, end)) => {
                    out.push_str(&word(n));
                    rest = &tail[end + 2..];
                }
                None => {
                    out.push_str(arguments);
                    rest = tail;
                }
            }
            continue;
        }
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            out.push_str(&word(n));
            rest = &after[digits.len()..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The runner's argv: placeholders replaced inside each element; an element that holds a
/// placeholder whose value is empty is left out (so `--model={model}` disappears without a
/// model). The result is handed to the OS as is — no shell, no further splitting.
pub fn expand_argv(template: &[String], vars: &RunVars) -> Vec<String> {
    let values = [
        ("{prompt}", vars.prompt.as_str()),
        ("{system_prompt}", vars.system_prompt.as_str()),
        ("{model}", vars.model.as_str()),
        ("{tools}", vars.tools.as_str()),
    ];
    template
        .iter()
        .filter_map(|element| {
            let mut out = element.clone();
            for (name, value) in values {
                if out.contains(name) {
                    if value.is_empty() {
                        return None;
                    }
                    out = out.replace(name, value);
                }
            }
            Some(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell_without_one() {
        assert_eq!(
            split_arguments(r#"a "b c" 'd e' f\ g "h\"i""#),
            ["a", "b c", "d e", "f g", "h\"i"]
        );
        assert_eq!(split_arguments("  "), Vec::<String>::new());
        assert_eq!(
            split_arguments("x; rm -rf / $(id)"),
            ["x;", "rm", "-rf", "/", "$(id)"]
        );
        assert_eq!(split_arguments(r#""""#), [""]);
    }

    #[test]
    fn expands_placeholders() {
        let body = "Fix $ARGUMENTS now. First $0, second $ARGUMENTS[1], missing $5, cost $USD.";
        assert_eq!(
            command_prompt(body, r#"src/main.rs "two words""#),
            r#"Fix src/main.rs "two words" now. First src/main.rs, second two words, missing , cost $USD."#
        );
    }

    #[test]
    fn argv_template_drops_empty_placeholders() {
        let template: Vec<String> = [
            "run",
            "-p",
            "{prompt}",
            "--model={model}",
            "--tools",
            "{tools}",
        ]
        .map(str::to_owned)
        .to_vec();
        let vars = RunVars {
            prompt: "a; rm -rf ~".into(),
            model: String::new(),
            tools: "Read,Grep".into(),
            ..RunVars::default()
        };
        assert_eq!(
            expand_argv(&template, &vars),
            ["run", "-p", "a; rm -rf ~", "--tools", "Read,Grep"]
        );
    }
}
