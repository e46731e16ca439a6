using System.Text.RegularExpressions;

namespace WapBackup.Shared.Logging;

/// <summary>
/// Removes secrets that third-party messages may quote: the user:password part of a MongoDB
/// connection string, and values of fields named like secrets in JSON or key=value text.
/// Product code never puts a secret into a message on purpose; this is the net under driver and SDK text.
/// </summary>
public static partial class SecretRedaction
{
    public const string Mask = "***";

    public static string Redact(string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text;
        }
        text = UriCredentials().Replace(text, "$1" + Mask + "@");
        return SecretFields().Replace(text, "${key}${sep}" + Mask);
    }

    [GeneratedRegex(@"(mongodb(?:\+srv)?://)[^@/\s]+@", RegexOptions.CultureInvariant)]
    private static partial Regex UriCredentials();

    // "secretAccessKey": "abc", password=abc, sessionToken: abc
    [GeneratedRegex(@"(?<key>""?(?:secretAccessKey|sessionToken|password|pwd)""?)(?<sep>\s*[:=]\s*""?)[^""\s,;&}]+", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex SecretFields();
}
