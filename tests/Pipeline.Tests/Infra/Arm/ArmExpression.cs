using System.Globalization;
using System.Text;

namespace Pipeline.Tests.Infra.Arm;

/// <summary>A parsed ARM template expression (the text between the brackets of "[...]").</summary>
public abstract record ArmExpression(string Text)
{
    /// <summary>A string, integer or boolean literal.</summary>
    public sealed record Literal(string Text, object Value) : ArmExpression(Text);

    /// <summary>A function call such as parameters('x') or format('{0}', ...).</summary>
    public sealed record Call(string Text, string Name, IReadOnlyList<ArmExpression> Arguments) : ArmExpression(Text);

    /// <summary>Property access: target.name.</summary>
    public sealed record Member(string Text, ArmExpression Target, string Name) : ArmExpression(Text);

    /// <summary>Indexing: target[index].</summary>
    public sealed record Index(string Text, ArmExpression Target, ArmExpression Key) : ArmExpression(Text);

    /// <summary>True when a template string is an expression ("[...]" but not the "[[" escape).</summary>
    public static bool IsExpression(string value) =>
        value.Length >= 2 && value[0] == '[' && value[^1] == ']' && !value.StartsWith("[[", StringComparison.Ordinal);

    /// <summary>Parses the expression inside a "[...]" template string.</summary>
    public static ArmExpression Parse(string templateString)
    {
        if (!IsExpression(templateString))
        {
            throw new FormatException($"Not an ARM expression: {templateString}");
        }

        var parser = new Parser(templateString[1..^1]);
        var expression = parser.ParseExpression();
        parser.ExpectEnd();
        return expression;
    }

    private sealed class Parser(string text)
    {
        private int _position;

        public ArmExpression ParseExpression()
        {
            SkipSpaces();
            var start = _position;
            var expression = ParsePrimary();
            while (true)
            {
                SkipSpaces();
                if (Peek('.'))
                {
                    _position++;
                    var name = ParseIdentifier();
                    expression = new Member(text[start.._position], expression, name);
                }
                else if (Peek('['))
                {
                    _position++;
                    var key = ParseExpression();
                    SkipSpaces();
                    Expect(']');
                    expression = new Index(text[start.._position], expression, key);
                }
                else
                {
                    return expression;
                }
            }
        }

        public void ExpectEnd()
        {
            SkipSpaces();
            if (_position != text.Length)
            {
                throw new FormatException($"Unexpected '{text[_position..]}' in ARM expression [{text}]");
            }
        }

        private ArmExpression ParsePrimary()
        {
            var start = _position;
            if (Peek('\''))
            {
                var value = ParseString();
                return new Literal(text[start.._position], value);
            }

            if (_position < text.Length && (char.IsDigit(text[_position]) || text[_position] == '-'))
            {
                _position++;
                while (_position < text.Length && char.IsDigit(text[_position]))
                {
                    _position++;
                }

                return new Literal(text[start.._position], long.Parse(text[start.._position], CultureInfo.InvariantCulture));
            }

            var name = ParseIdentifier();
            SkipSpaces();
            Expect('(');
            var arguments = new List<ArmExpression>();
            SkipSpaces();
            if (!Peek(')'))
            {
                while (true)
                {
                    arguments.Add(ParseExpression());
                    SkipSpaces();
                    if (Peek(','))
                    {
                        _position++;
                        continue;
                    }

                    break;
                }
            }

            Expect(')');
            return new Call(text[start.._position], name, arguments);
        }

        private string ParseString()
        {
            Expect('\'');
            var value = new StringBuilder();
            while (true)
            {
                if (_position >= text.Length)
                {
                    throw new FormatException($"Unterminated string in ARM expression [{text}]");
                }

                var c = text[_position++];
                if (c == '\'')
                {
                    // '' is an escaped quote inside a string literal.
                    if (Peek('\''))
                    {
                        value.Append('\'');
                        _position++;
                        continue;
                    }

                    return value.ToString();
                }

                value.Append(c);
            }
        }

        private string ParseIdentifier()
        {
            var start = _position;
            while (_position < text.Length && (char.IsLetterOrDigit(text[_position]) || text[_position] is '_' or '$'))
            {
                _position++;
            }

            if (start == _position)
            {
                throw new FormatException($"Expected a name at {_position} in ARM expression [{text}]");
            }

            return text[start.._position];
        }

        private bool Peek(char c) => _position < text.Length && text[_position] == c;

        private void Expect(char c)
        {
            if (!Peek(c))
            {
                throw new FormatException($"Expected '{c}' at {_position} in ARM expression [{text}]");
            }

            _position++;
        }

        private void SkipSpaces()
        {
            while (_position < text.Length && char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
        }
    }
}
