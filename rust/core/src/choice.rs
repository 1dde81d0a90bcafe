//! Options that take one of a few names. Each such enum keeps one table of its names beside
//! its values; these read a name by the table and name a value by it, so that every option
//! refuses an unknown name with the same message. [`names!`] declares such an enum with its
//! table.

use crate::{Error, Result};

/// The value named `name` in `choices`, or an error for the option `option` that lists the
/// names.
pub(crate) fn parse<T: Copy>(
    option: &'static str,
    name: &str,
    choices: &[(&'static str, T)],
) -> Result<T> {
    if let Some(&(_, value)) = choices.iter().find(|(known, _)| *known == name) {
        return Ok(value);
    }
    let names: Vec<&str> = choices.iter().map(|(known, _)| *known).collect();
    let expected = match names.as_slice() {
        [first, second] => format!("{first} or {second}"),
        _ => format!("one of {}", names.join(", ")),
    };
    Err(Error::invalid_option(
        option,
        format!("{name:?} is unknown; expected {expected}"),
    ))
}

/// The name of `value` in `choices`, which names every value.
pub(crate) fn name_of<T: PartialEq>(value: T, choices: &[(&'static str, T)]) -> &'static str {
    choices
        .iter()
        .find(|(_, known)| *known == value)
        .map(|(name, _)| *name)
        .expect("the table names every value")
}

/// An option enum declared by [`names!`], for code that reads any of them.
pub(crate) trait Named: Copy + PartialEq + 'static {
    const NAMES: &'static [(&'static str, Self)];
}

/// Declares an option enum with the name of each value (`Variant => "name"`): the table
/// `NAMES`, `name()`, and, given `parsed as "option"`, `FromStr` by [`parse`] for that
/// option.
macro_rules! names {
    (
        $(#[$meta:meta])*
        $vis:vis enum $enum:ident $(parsed as $option:literal)? {
            $($(#[$variant_meta:meta])* $variant:ident => $name:literal,)+
        }
    ) => {
        $(#[$meta])*
        $vis enum $enum {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $enum {
            /// Every value by the name options give it.
            pub const NAMES: &'static [(&'static str, Self)] = &[$(($name, Self::$variant)),+];

            /// The name options give this value.
            pub fn name(self) -> &'static str {
                $crate::choice::name_of(self, Self::NAMES)
            }
        }

        impl $crate::choice::Named for $enum {
            const NAMES: &'static [(&'static str, Self)] = $enum::NAMES;
        }

        $(
            impl std::str::FromStr for $enum {
                type Err = $crate::Error;

                fn from_str(name: &str) -> $crate::Result<Self> {
                    $crate::choice::parse($option, name, Self::NAMES)
                }
            }
        )?
    };
}
pub(crate) use names;

#[cfg(test)]
mod tests {
    use super::*;

    const CHOICES: &[(&str, u8)] = &[("one", 1), ("two", 2), ("three", 3)];

    #[test]
    fn reads_and_writes_the_names_of_the_table() {
        for &(name, value) in CHOICES {
            assert_eq!(parse("n", name, CHOICES).unwrap(), value);
            assert_eq!(name_of(value, CHOICES), name);
        }
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_names() {
        let error = parse("n", "four", CHOICES).unwrap_err().to_string();
        assert_eq!(
            error,
            r#"n "four" is unknown; expected one of one, two, three"#
        );
        let error = parse("n", "four", &CHOICES[..2]).unwrap_err().to_string();
        assert_eq!(error, r#"n "four" is unknown; expected one or two"#);
    }
}
