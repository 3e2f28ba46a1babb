//! The route table: every route is registered through it, with its documentation, so the
//! OpenAPI document is generated from exactly the routes the server answers.

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    /// The query string.
    Query,
    /// A path segment.
    Path,
    /// A request header.
    Header,
}

/// The values a parameter takes. The parser enforces exactly this and the OpenAPI document
/// states exactly this: one declaration, read by both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text of `min_len..=max_len` characters which, when `pattern` is given, contains a match
    /// of it (the JSON Schema rule: searched, so anchor it to match the whole).
    Text {
        /// The fewest characters.
        min_len: usize,
        /// The most characters.
        max_len: usize,
        /// A regular expression (the common subset of Rust's `regex-lite` and ECMA 262).
        pattern: Option<&'static str>,
    },
    /// A whole number in `min..=max`.
    Integer {
        /// The smallest.
        min: u64,
        /// The largest.
        max: u64,
    },
    /// `true` or `false`.
    Boolean,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// One of a long list of words, kept once in the document's components under `name`.
    Named {
        /// The component's name.
        name: &'static str,
        /// The words.
        values: &'static [&'static str],
    },
    /// A calendar date, `YYYY-MM-DD` (the JSON Schema `date` format): a day that exists.
    Date,
}

/// The most characters of a query text without a bound of its own. With [`MAX_ITEMS`], it keeps
/// every request the document allows within the server's URI limit (8 KiB by default) even
/// when each character takes 12 bytes percent-encoded.
pub const MAX_TEXT: usize = 64;

/// The most values a repeatable query parameter takes.
pub const MAX_ITEMS: usize = 4;

/// One documented parameter.
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Where it goes.
    pub location: In,
    /// Whether it must be given.
    pub required: bool,
    /// What it accepts.
    pub kind: Kind,
    /// What it does.
    pub description: &'static str,
    /// The value when absent (for the document; accessors read it too).
    pub default: Option<u64>,
    /// Whether a query parameter may be given more than once.
    pub repeatable: bool,
    /// The choice this parameter belongs to, and its side there.
    pub choice: Option<(&'static Choice, usize)>,
}

impl Param {
    /// An optional query parameter; `kind` is `string` (1 to `MAX_TEXT` (64) characters),
    /// `integer` (0 and up) or `boolean`. Narrow it with the builders.
    pub const fn query(name: &'static str, kind: &'static str, description: &'static str) -> Param {
        Param {
            name,
            location: In::Query,
            required: false,
            kind: Kind::of(kind),
            description,
            default: None,
            repeatable: false,
            choice: None,
        }
    }

    /// A required path parameter: text of 1 to 256 characters unless narrowed.
    pub const fn path(name: &'static str, description: &'static str) -> Param {
        Param {
            name,
            location: In::Path,
            required: true,
            kind: Kind::Text {
                min_len: 1,
                max_len: 256,
                pattern: None,
            },
            description,
            default: None,
            repeatable: false,
            choice: None,
        }
    }

    /// A required request header: text of 1 to `MAX_TEXT` (64) characters unless narrowed.
    pub const fn header(name: &'static str, description: &'static str) -> Param {
        Param {
            name,
            location: In::Header,
            required: true,
            kind: Kind::of("string"),
            description,
            default: None,
            repeatable: false,
            choice: None,
        }
    }

    /// The same parameter, required.
    #[must_use]
    pub const fn required(mut self) -> Param {
        self.required = true;
        self
    }

    /// A whole number in `min..=max`.
    #[must_use]
    pub const fn range(mut self, min: u64, max: u64) -> Param {
        self.kind = Kind::Integer { min, max };
        self
    }

    /// The value when absent.
    #[must_use]
    pub const fn default(mut self, value: u64) -> Param {
        self.default = Some(value);
        self
    }

    /// One of `values`.
    #[must_use]
    pub const fn one_of(mut self, values: &'static [&'static str]) -> Param {
        self.kind = Kind::OneOf(values);
        self
    }

    /// One of `values`, documented once as the component `name`.
    #[must_use]
    pub const fn named(mut self, name: &'static str, values: &'static [&'static str]) -> Param {
        self.kind = Kind::Named { name, values };
        self
    }

    /// A calendar date, `YYYY-MM-DD`.
    #[must_use]
    pub const fn date(mut self) -> Param {
        self.kind = Kind::Date;
        self
    }

    /// Text matching `pattern`, of `min_len..=max_len` characters.
    #[must_use]
    pub const fn pattern(mut self, pattern: &'static str, min_len: usize, max_len: usize) -> Param {
        self.kind = Kind::Text {
            min_len,
            max_len,
            pattern: Some(pattern),
        };
        self
    }

    /// Text of at most `max_len` characters (at least one).
    #[must_use]
    pub const fn max_len(mut self, max_len: usize) -> Param {
        self.kind = Kind::Text {
            min_len: 1,
            max_len,
            pattern: None,
        };
        self
    }

    /// A member of `choice`, on side `side`.
    #[must_use]
    pub const fn side_of(mut self, choice: &'static Choice, side: usize) -> Param {
        self.choice = Some((choice, side));
        self
    }

    /// A query parameter that may be repeated (`?tag=a&tag=b`).
    #[must_use]
    pub const fn repeatable(mut self) -> Param {
        self.repeatable = true;
        self
    }
}

impl Kind {
    const fn of(name: &str) -> Kind {
        match name.as_bytes() {
            b"integer" => Kind::Integer {
                min: 0,
                max: i64::MAX as u64,
            },
            b"boolean" => Kind::Boolean,
            _ => Kind::Text {
                min_len: 1,
                max_len: MAX_TEXT,
                pattern: None,
            },
        }
    }
}

/// Query parameters of which a request may use one side only: `offset` or `cursor`, a
/// `time_range` or `from`/`to`. Each member names its choice and side ([`Param::side_of`]);
/// the document shows the members as one form-exploded object whose schema allows one side at
/// a time, and the parser refuses two sides at once.
#[derive(Debug)]
pub struct Choice {
    /// The object's name in the document (never sent itself).
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Whether one side must be used.
    pub required: bool,
}

/// `offset` (side 0) or `cursor` (side 1).
pub static PAGE_START: Choice = Choice {
    name: "page_start",
    description: "Where the page starts: `offset` or `cursor`, not both",
    required: false,
};

/// What a successful response carries.
#[derive(Debug, Clone)]
pub enum Body {
    /// The envelope with `data` of this schema.
    Envelope(&'static str),
    /// The envelope with `data` a list of this schema, and pagination.
    Page(&'static str),
    /// The envelope with `data` a list of this schema, without pagination.
    List(&'static str),
    /// A bare JSON value (v1 shapes, the OpenAPI document).
    Json,
    /// An HTML page.
    Html,
    /// A script.
    Script,
    /// A stylesheet.
    Stylesheet,
    /// Prometheus text exposition.
    Prometheus,
    /// A WebSocket handshake (101 Switching Protocols).
    WebSocket,
    /// A JPEG image.
    Jpeg,
}

/// A documented route.
#[derive(Debug, Clone)]
pub struct Route {
    /// The HTTP method, lowercase.
    pub method: &'static str,
    /// The path, actix style (`/api/v2/agents/{id}`).
    pub path: String,
    /// A unique operation id.
    pub operation_id: String,
    /// Groups operations in the docs.
    pub tag: &'static str,
    /// One line.
    pub summary: String,
    /// Parameters.
    pub params: Vec<Param>,
    /// The success body.
    pub body: Body,
    /// Error codes it may answer besides the common ones.
    pub errors: &'static [jarvis_core::Code],
    /// Whether it is deprecated (v1).
    pub deprecated: bool,
    /// Whether it is served from the response cache (ETag, `If-None-Match` → 304).
    pub cached: bool,
    /// The status of a success: 200, 201 (created) or 202 (accepted, runs on).
    pub status: u16,
    /// The JSON request body's schema, for routes that take one.
    pub request: Option<&'static str>,
    /// The scope a caller needs; `None` for public routes (health, docs).
    pub scope: Option<jarvis_auth::Scope>,
}
