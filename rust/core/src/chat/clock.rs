//! `strftime_now(format)`: the current time formatted as Python's `datetime.now().strftime`
//! does, for templates that print today's date (Llama 3's "Today Date"). The time is UTC;
//! the codes are the C library's (with its `-`, `_`, `^` and `0` flags), which Python on
//! Linux hands them to, and any other is an error naming it.

use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A moment broken into calendar fields (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Monday.
    weekday: u32,
    /// 1-based day of the year.
    yearday: u32,
}

impl Civil {
    pub(crate) fn now() -> Civil {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Civil::from_unix(seconds)
    }

    /// Howard Hinnant's days-to-civil algorithm.
    pub(crate) fn from_unix(seconds: i64) -> Civil {
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yearday = BEFORE[month as usize - 1] + day + u32::from(leap && month > 2);
        Civil {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 3).rem_euclid(7) as u32,
            yearday,
        }
    }

    /// `format` with its codes replaced as Python's `strftime` on Linux replaces them (the C
    /// library's codes, its `-`, `_` and `^` flags, a naive time's empty `%Z` and `%z`).
    pub(crate) fn strftime(&self, format: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let flag = chars.next_if(|c| matches!(c, '-' | '_' | '^' | '0'));
            let code = chars.next().ok_or("format ends with a lone %")?;
            let field = self.field(code)?;
            let text = match (field, flag) {
                (Field::Text(text), Some('^')) => text.to_uppercase(),
                (Field::Text(text), _) => text,
                (Field::Number { value, width, pad }, flag) => match flag {
                    Some('-') => value.to_string(),
                    Some('_') => format!("{value:>width$}"),
                    Some('0') => format!("{value:0>width$}"),
                    _ if pad == ' ' => format!("{value:>width$}"),
                    _ => format!("{value:0>width$}"),
                },
            };
            out.push_str(&text);
        }
        Ok(out)
    }

    /// What `%code` stands for.
    fn field(&self, code: char) -> Result<Field, String> {
        let number = |value: i64, width: usize| Field::Number {
            value,
            width,
            pad: '0',
        };
        let spaced = |value: i64, width: usize| Field::Number {
            value,
            width,
            pad: ' ',
        };
        let month = MONTHS[self.month as usize - 1];
        let weekday = WEEKDAYS[self.weekday as usize];
        let hour12 = i64::from((self.hour + 11) % 12 + 1);
        let text = |text: &str| Field::Text(text.to_owned());
        let formatted = |format: &str| self.strftime(format).map(Field::Text);
        Ok(match code {
            'Y' => number(self.year, 4),
            'C' => number(self.year.div_euclid(100), 2),
            'y' => number(self.year.rem_euclid(100), 2),
            'm' => number(self.month.into(), 2),
            'd' => number(self.day.into(), 2),
            'e' => spaced(self.day.into(), 2),
            'H' => number(self.hour.into(), 2),
            'k' => spaced(self.hour.into(), 2),
            'I' => number(hour12, 2),
            'l' => spaced(hour12, 2),
            'p' => text(if self.hour < 12 { "AM" } else { "PM" }),
            'P' => text(if self.hour < 12 { "am" } else { "pm" }),
            'M' => number(self.minute.into(), 2),
            'S' => number(self.second.into(), 2),
            'j' => number(self.yearday.into(), 3),
            'B' => text(month),
            'b' | 'h' => text(&month[..3]),
            'A' => text(weekday),
            'a' => text(&weekday[..3]),
            'w' => number(((self.weekday + 1) % 7).into(), 1),
            'u' => number((self.weekday + 1).into(), 1),
            'F' => formatted("%Y-%m-%d")?,
            'D' | 'x' => formatted("%m/%d/%y")?,
            'T' | 'X' => formatted("%H:%M:%S")?,
            'R' => formatted("%H:%M")?,
            'r' => formatted("%I:%M:%S %p")?,
            'c' => formatted("%a %b %e %H:%M:%S %Y")?,
            // A naive time, as `datetime.now()` is, has no zone.
            'Z' | 'z' => text(""),
            'n' => text("\n"),
            't' => text("\t"),
            '%' => text("%"),
            other => return Err(format!("strftime code %{other} is not supported")),
        })
    }
}

/// A code's replacement: text, or a number and how it is padded by default.
enum Field {
    Text(String),
    Number { value: i64, width: usize, pad: char },
}
