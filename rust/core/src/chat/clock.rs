//! `strftime_now(format)`: the current time formatted as Python's `datetime.now().strftime`
//! does, for templates that print today's date (Llama 3's "Today Date"). The time is UTC;
//! the codes are those templates use, and any other is an error naming it.

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

    pub(crate) fn strftime(&self, format: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let code = chars.next().ok_or("format ends with a lone %")?;
            let month = MONTHS[self.month as usize - 1];
            let weekday = WEEKDAYS[self.weekday as usize];
            let field = match code {
                'Y' => format!("{:04}", self.year),
                'y' => format!("{:02}", self.year.rem_euclid(100)),
                'm' => format!("{:02}", self.month),
                'd' => format!("{:02}", self.day),
                'H' => format!("{:02}", self.hour),
                'I' => format!("{:02}", (self.hour + 11) % 12 + 1),
                'p' => (if self.hour < 12 { "AM" } else { "PM" }).to_owned(),
                'M' => format!("{:02}", self.minute),
                'S' => format!("{:02}", self.second),
                'j' => format!("{:03}", self.yearday),
                'B' => month.to_owned(),
                'b' | 'h' => month[..3].to_owned(),
                'A' => weekday.to_owned(),
                'a' => weekday[..3].to_owned(),
                'w' => ((self.weekday + 1) % 7).to_string(),
                'F' => format!("{:04}-{:02}-{:02}", self.year, self.month, self.day),
                '%' => "%".to_owned(),
                other => return Err(format!("strftime code %{other} is not supported")),
            };
            out.push_str(&field);
        }
        Ok(out)
    }
}
