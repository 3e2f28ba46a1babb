//! The analyzer against real ffmpeg on clips this test makes with ffmpeg's generators: a test
//! pattern with a hard cut at 2 s over a tone that stops at 2 s. Scene change and silence are
//! found within a frame of the truth, loudness within 0.5 LU of ffmpeg's own `ebur128` report,
//! progress rises to 100, thumbnails are written; a cancel or a timeout ends the subprocess,
//! and none is left behind.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use jarvis_integrations::analyzer::{Analyzer, Cancel, MediaConfig, MediaError, Wanted};
use jarvis_testkit::media::cut_clip as clip;

const FRAME: f64 = 1.0 / 25.0;

/// ffmpeg's own integrated loudness of `path`.
fn reference_lufs(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-vn", "-af", "ebur128", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let summary = &text[text.find("Summary:").unwrap()..];
    let line = summary
        .lines()
        .find(|l| l.trim_start().starts_with("I:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn processes_naming(needle: &str) -> usize {
    jarvis_testkit::media::processes_naming(needle).len()
}

#[tokio::test]
async fn a_clip_is_analysed_within_a_frame_of_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip(dir.path());
    let analyzer = Analyzer::new(MediaConfig::default(), 2);
    let mut seen = Vec::new();
    let wanted = Wanted {
        scenes: true,
        loudness: true,
        silence: true,
    };
    let thumbs = dir.path().join("thumbs");
    let report = analyzer
        .analyze_media(
            &clip,
            wanted,
            Some(&thumbs),
            &Cancel::default(),
            |stage, p| {
                seen.push((stage, p));
            },
        )
        .await
        .unwrap();
    let info = &report.info;
    assert!((info.duration_secs.unwrap() - 4.0).abs() < 0.1, "{info:?}");
    let video = info.streams.iter().find(|s| s.kind == "video").unwrap();
    assert_eq!(
        (video.width, video.height, video.frame_rate),
        (Some(320), Some(240), Some(25.0))
    );
    assert_eq!(video.codec.as_deref(), Some("h264"));
    let audio = info.streams.iter().find(|s| s.kind == "audio").unwrap();
    assert_eq!((audio.sample_rate, audio.channels), (Some(48000), Some(1)));

    let scenes = &report.findings.scene_changes;
    assert_eq!(scenes.len(), 1, "{scenes:?}");
    assert!((scenes[0] - 2.0).abs() <= FRAME, "{scenes:?}");
    let silences = &report.findings.silences;
    assert_eq!(silences.len(), 1, "{silences:?}");
    assert!(
        (silences[0].start_secs - 2.0).abs() <= FRAME,
        "{silences:?}"
    );
    assert!((silences[0].end_secs - 4.0).abs() <= FRAME, "{silences:?}");
    let loudness = report.findings.loudness.unwrap();
    let reference = reference_lufs(&clip);
    assert!(
        (loudness.integrated_lufs - reference).abs() <= 0.5,
        "{loudness:?} vs {reference}"
    );
    assert!(
        loudness.true_peak_dbfs < 0.0 && loudness.true_peak_dbfs > -30.0,
        "{loudness:?}"
    );

    assert_eq!(report.thumbnails, 3);
    for n in 0..3 {
        let jpeg = std::fs::read(thumbs.join(format!("{n}.jpg"))).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    }
    // Stages in order; percentages never fall within a stage and end at 100.
    let stages: Vec<&str> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(stages.first(), Some(&"probing"));
    assert!(stages.contains(&"analyzing"));
    let analyzing: Vec<f64> = seen
        .iter()
        .filter(|(s, _)| *s == "analyzing")
        .map(|(_, p)| *p)
        .collect();
    assert!(analyzing.windows(2).all(|w| w[0] <= w[1]), "{analyzing:?}");
    assert_eq!(analyzing.last(), Some(&100.0));
}

#[tokio::test]
async fn cancel_and_timeout_end_the_subprocess() {
    let dir = tempfile::tempdir().unwrap();
    // A FIFO nobody writes to: ffprobe waits on it until it is stopped.
    let fifo = dir.path().join("never-written.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let needle = fifo.to_string_lossy().into_owned();

    let analyzer = Analyzer::new(MediaConfig::default(), 1);
    let cancel = Cancel::default();
    let canceler = cancel.clone();
    let started = Instant::now();
    let waiting = tokio::spawn({
        let analyzer = analyzer.clone();
        let fifo = fifo.clone();
        async move {
            analyzer
                .analyze_media(&fifo, Wanted::default(), None, &cancel, |_, _| {})
                .await
        }
    });
    jarvis_testkit::eventually(
        "ffprobe waiting on the FIFO",
        Duration::from_secs(5),
        || async { (processes_naming(&needle) > 0).then_some(()) },
    )
    .await;
    // It runs at the configured niceness (10 by default): the server keeps the CPU it needs.
    let pid = jarvis_testkit::media::processes_naming(&needle)[0];
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let nice: i32 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(16)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(nice, 10, "{stat}");
    // One slot, taken: a second analysis waits for it, and the status says both.
    let queued_cancel = Cancel::default();
    let queued = tokio::spawn({
        let analyzer = analyzer.clone();
        let fifo = fifo.clone();
        let cancel = queued_cancel.clone();
        async move {
            analyzer
                .analyze_media(&fifo, Wanted::default(), None, &cancel, |_, _| {})
                .await
        }
    });
    let status = jarvis_testkit::eventually(
        "the second analysis waiting",
        Duration::from_secs(5),
        || async {
            let status = analyzer.status().await;
            (status.waiting == 1).then_some(status)
        },
    )
    .await;
    assert_eq!((status.concurrency, status.running), (1, 1));
    assert!(status.missing().is_none(), "{status:?}");
    assert!(
        status
            .tools
            .iter()
            .all(|t| t.available && t.version.as_deref().is_some_and(|v| !v.is_empty())),
        "{status:?}"
    );
    queued_cancel.cancel();
    assert_eq!(queued.await.unwrap(), Err(MediaError::Canceled));
    assert_eq!(analyzer.status().await.waiting, 0);
    canceler.cancel();
    assert_eq!(waiting.await.unwrap(), Err(MediaError::Canceled));
    assert_eq!(analyzer.status().await.running, 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(processes_naming(&needle), 0, "nothing outlives a cancel");

    let quick = Analyzer::new(
        MediaConfig {
            timeout_secs: 1,
            ..MediaConfig::default()
        },
        1,
    );
    let result = quick
        .analyze_media(
            &fifo,
            Wanted::default(),
            None,
            &Cancel::default(),
            |_, _| {},
        )
        .await;
    assert_eq!(result, Err(MediaError::Timeout(1)));
    assert_eq!(processes_naming(&needle), 0, "nothing outlives a timeout");
}

#[tokio::test]
async fn unreadable_input_and_a_missing_tool_are_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video at all").unwrap();
    let analyzer = Analyzer::new(MediaConfig::default(), 1);
    let result = analyzer
        .analyze_media(
            &text,
            Wanted::default(),
            None,
            &Cancel::default(),
            |_, _| {},
        )
        .await;
    assert!(
        matches!(
            result,
            Err(MediaError::Unreadable {
                tool: "ffprobe",
                ..
            })
        ),
        "{result:?}"
    );
    let missing = Analyzer::new(
        MediaConfig {
            ffprobe: "/nonexistent/ffprobe".into(),
            ..MediaConfig::default()
        },
        1,
    );
    let status = missing.status().await;
    let tool = status.missing().expect("ffprobe is missing");
    assert_eq!(
        (tool.tool, tool.program.as_str(), tool.available),
        ("ffprobe", "/nonexistent/ffprobe", false)
    );
    assert!(tool.error.is_some(), "{tool:?}");
    let result = missing
        .analyze_media(
            &text,
            Wanted::default(),
            None,
            &Cancel::default(),
            |_, _| {},
        )
        .await;
    assert!(
        matches!(
            result,
            Err(MediaError::ToolMissing {
                tool: "ffprobe",
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_playlist_naming_other_files_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let clip = clip(outside.path());
    let root = tempfile::tempdir().unwrap();
    let analyzer = Analyzer::new(MediaConfig::default(), 1);
    // An HLS playlist naming a clip outside its folder, under a name that hides what it is.
    let playlist = root.path().join("holiday.mp4");
    std::fs::write(
        &playlist,
        format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n{}\n#EXT-X-ENDLIST\n",
            clip.display()
        ),
    )
    .unwrap();
    let thumbnails = root.path().join("thumbs");
    let result = analyzer
        .analyze_media(
            &playlist,
            Wanted::default(),
            Some(&thumbnails),
            &Cancel::default(),
            |_, _| {},
        )
        .await;
    match result {
        Err(MediaError::Unreadable { tool, message }) => {
            assert_eq!(tool, "ffprobe");
            assert!(message.contains("`hls` playlist"), "{message}");
        }
        other => panic!("a playlist was analysed: {other:?}"),
    }
    assert!(!thumbnails.exists(), "nothing was taken from the clip");
}

mod fetching {
    use jarvis_integrations::analyzer::{FetchError, FetchPolicy, fetch};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn loopback_allowed() -> FetchPolicy {
        FetchPolicy {
            allow_loopback: true,
            ..FetchPolicy::default()
        }
    }

    #[tokio::test]
    async fn a_page_on_an_allowed_server_is_fetched() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/page"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("<html><body><h1>Hi</h1></body></html>", "text/html"),
            )
            .mount(&server)
            .await;
        let fetched = fetch(&format!("{}/page", server.uri()), &loopback_allowed())
            .await
            .unwrap();
        assert_eq!(fetched.content_type.as_deref(), Some("text/html"));
        assert!(String::from_utf8_lossy(&fetched.body).contains("<h1>Hi</h1>"));
    }

    #[tokio::test]
    async fn loopback_names_private_redirects_and_large_bodies_are_refused() {
        let server = MockServer::start().await;
        let port = server.address().port();
        Mock::given(method("GET"))
            .and(path("/to-private"))
            .respond_with(
                ResponseTemplate::new(302).insert_header("location", "http://10.1.2.3/secret"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/to-metadata"))
            .respond_with(
                ResponseTemplate::new(301)
                    .insert_header("location", "http://169.254.169.254/latest/meta-data/"),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/big"))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 4096]))
            .mount(&server)
            .await;
        // A name that resolves to loopback is refused as the address is.
        let by_name = fetch(
            &format!("http://localhost:{port}/big"),
            &FetchPolicy::default(),
        )
        .await;
        assert!(
            matches!(by_name, Err(FetchError::Forbidden(_))),
            "{by_name:?}"
        );
        let literal = fetch(
            &format!("http://127.0.0.1:{port}/big"),
            &FetchPolicy::default(),
        )
        .await;
        assert!(
            matches!(literal, Err(FetchError::Forbidden(_))),
            "{literal:?}"
        );
        // Every redirect is checked again.
        for to in ["/to-private", "/to-metadata"] {
            let result = fetch(&format!("{}{to}", server.uri()), &loopback_allowed()).await;
            assert!(
                matches!(result, Err(FetchError::Forbidden(_))),
                "{to}: {result:?}"
            );
        }
        let small = FetchPolicy {
            max_bytes: 1000,
            ..loopback_allowed()
        };
        let big = fetch(&format!("{}/big", server.uri()), &small).await;
        assert_eq!(big, Err(FetchError::TooLarge(1000)));
        let missing = fetch(&format!("{}/nothing", server.uri()), &loopback_allowed()).await;
        assert_eq!(missing, Err(FetchError::Status(404)));
    }
}
