//! Local files a client may name for analysis: only regular files below a configured media
//! root (`analysis.roots`), named without `..`, and still below a root once every symlink is
//! resolved; never a device, a FIFO, a socket or a folder.

use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// No media roots are configured: local files cannot be analysed.
    #[error("no media folders are configured (analysis.roots): local files cannot be analysed")]
    NoRoots,
    /// The path is relative, or climbs with `..`.
    #[error("{0}: give an absolute path without `..`")]
    NotPlain(String),
    /// The path (after symlinks) is not below a media root.
    #[error("{0} is outside the media folders (analysis.roots)")]
    OutsideRoots(String),
    /// Nothing is there.
    #[error("{0} does not exist")]
    Missing(String),
    /// It is not a regular file (a folder, device, FIFO or socket).
    #[error("{0} is not a regular file")]
    NotAFile(String),
}

/// The media roots, resolved once (symlinks followed) so that comparisons are between real
/// paths. Roots that do not exist are left out.
pub fn resolve_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots
        .iter()
        .filter_map(|root| match root.canonicalize() {
            Ok(real) => Some(real),
            Err(e) => {
                tracing::warn!(root = %root.display(), error = %e, "a media folder cannot be used; files below it are refused");
                None
            }
        })
        .collect()
}

/// The real path of `requested` when it may be analysed. Blocking (file system calls).
pub fn check_local(requested: &str, roots: &[PathBuf]) -> Result<PathBuf, PathError> {
    if roots.is_empty() {
        return Err(PathError::NoRoots);
    }
    let path = Path::new(requested);
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(PathError::NotPlain(requested.to_owned()));
    }
    // Below a root as written, and again once symlinks are resolved.
    if !roots.iter().any(|root| path.starts_with(root)) && !lexically_below(path, roots) {
        return Err(PathError::OutsideRoots(requested.to_owned()));
    }
    let real = path.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PathError::Missing(requested.to_owned()),
        _ => PathError::NotAFile(requested.to_owned()),
    })?;
    if !roots.iter().any(|root| real.starts_with(root)) {
        return Err(PathError::OutsideRoots(requested.to_owned()));
    }
    let meta = std::fs::metadata(&real).map_err(|_| PathError::Missing(requested.to_owned()))?;
    if !meta.file_type().is_file() {
        return Err(PathError::NotAFile(requested.to_owned()));
    }
    Ok(real)
}

/// Whether `path`, with its folders resolved (the file itself may be a link), is below a root:
/// a root given through a symlinked folder still matches.
fn lexically_below(path: &Path, roots: &[PathBuf]) -> bool {
    path.parent()
        .and_then(|parent| parent.canonicalize().ok())
        .is_some_and(|parent| roots.iter().any(|root| parent.starts_with(root)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_below_a_root_pass() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        let outside = dir.path().join("private");
        std::fs::create_dir_all(media.join("clips")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(media.join("clips/a.mp4"), "x").unwrap();
        std::fs::write(outside.join("secret.txt"), "x").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.join("secret.txt"), media.join("escape.txt"))
                .unwrap();
            std::os::unix::fs::symlink(&outside, media.join("escape-dir")).unwrap();
            std::os::unix::fs::symlink(media.join("clips/a.mp4"), media.join("inside.mp4"))
                .unwrap();
        }
        let roots = resolve_roots(&[media.clone(), dir.path().join("absent")]);
        assert_eq!(roots.len(), 1);
        let s = |p: &Path| p.to_string_lossy().into_owned();

        assert!(check_local(&s(&media.join("clips/a.mp4")), &roots).is_ok());
        assert!(check_local(&s(&media.join("inside.mp4")), &roots).is_ok());
        assert!(matches!(
            check_local(&s(&media.join("clips/../../private/secret.txt")), &roots),
            Err(PathError::NotPlain(_))
        ));
        assert!(matches!(
            check_local("clips/a.mp4", &roots),
            Err(PathError::NotPlain(_))
        ));
        assert!(matches!(
            check_local(&s(&outside.join("secret.txt")), &roots),
            Err(PathError::OutsideRoots(_))
        ));
        assert!(matches!(
            check_local(&s(&media.join("escape.txt")), &roots),
            Err(PathError::OutsideRoots(_))
        ));
        assert!(matches!(
            check_local(&s(&media.join("escape-dir/secret.txt")), &roots),
            Err(PathError::OutsideRoots(_))
        ));
        assert!(matches!(
            check_local(&s(&media.join("clips")), &roots),
            Err(PathError::NotAFile(_))
        ));
        assert!(matches!(
            check_local(&s(&media.join("nope.mp4")), &roots),
            Err(PathError::Missing(_))
        ));
        assert!(matches!(
            check_local("/dev/null", &roots),
            Err(PathError::OutsideRoots(_))
        ));
        assert_eq!(check_local("/etc/passwd", &[]), Err(PathError::NoRoots));
    }

    #[test]
    #[cfg(unix)]
    fn devices_and_fifos_below_a_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.mp4")).unwrap();
        let fifo = dir.path().join("pipe.mp4");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let roots = resolve_roots(&[dir.path().to_path_buf()]);
        let zero = dir.path().join("zero.mp4").to_string_lossy().into_owned();
        // The link leads out of the root to a device: refused either way.
        assert!(check_local(&zero, &roots).is_err());
        assert_eq!(
            check_local(&fifo.to_string_lossy(), &roots),
            Err(PathError::NotAFile(fifo.to_string_lossy().into_owned()))
        );
    }
}
