using System.Reflection;

namespace WapBackup.Local.Lambda;

/// <summary>A Lambda function as the managed dotnet runtime calls it: a stream in, a stream out.</summary>
public delegate Task<Stream> LambdaHandler(Stream input, CancellationToken cancellationToken);

/// <summary>
/// Resolves a SAM <c>Handler</c> string (<c>Assembly::Namespace.Type::Method</c>) the way the dotnet runtime
/// does: the type is created once with its public parameterless constructor (or by <c>create</c>, which the
/// local stack uses to give the function local clients) and the method takes a <see cref="Stream"/> and returns
/// a <see cref="Stream"/> or <c>Task&lt;Stream&gt;</c>. Anything else is refused naming the handler and the rule.
/// </summary>
public static class LambdaHandlers
{
    public static LambdaHandler Resolve(string handler, Func<Type, object>? create = null)
    {
        var method = Find(handler);
        object? instance = method.IsStatic ? null : (create ?? (t => Activator.CreateInstance(t)!))(method.DeclaringType!);
        return async (input, _) =>
        {
            object? result;
            try
            {
                result = method.Invoke(instance, [input]);
            }
            catch (TargetInvocationException e) when (e.InnerException is { } inner)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(inner);
                throw;
            }
            return result switch
            {
                Task<Stream> task => await task.ConfigureAwait(false),
                Stream stream => stream,
                _ => throw new InvalidOperationException($"{handler} returned no stream"),
            };
        };
    }

    /// <summary>The public method a handler string names, checked for the Stream-in, Stream-out shape.</summary>
    public static MethodInfo Find(string handler)
    {
        string[] parts = handler.Split("::");
        if (parts.Length != 3 || parts.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException($"Handler '{handler}' must be Assembly::Namespace.Type::Method", nameof(handler));
        }
        Assembly assembly;
        try
        {
            assembly = Assembly.Load(parts[0]);
        }
        catch (FileNotFoundException e)
        {
            throw new ArgumentException($"Handler '{handler}': assembly {parts[0]} is not found", nameof(handler), e);
        }
        var type = assembly.GetType(parts[1], throwOnError: false)
            ?? throw new ArgumentException($"Handler '{handler}': type {parts[1]} is not in {parts[0]}", nameof(handler));
        var candidates = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static)
            .Where(m => m.Name == parts[2])
            .ToList();
        var method = candidates.SingleOrDefault(m =>
                m.GetParameters() is [{ ParameterType: var p }] && p == typeof(Stream)
                && (m.ReturnType == typeof(Stream) || m.ReturnType == typeof(Task<Stream>)))
            ?? throw new ArgumentException(
                $"Handler '{handler}': {parts[1]} has no public method {parts[2]}(Stream) returning Stream or Task<Stream> ({candidates.Count} method(s) of that name)", nameof(handler));
        if (!method.IsStatic && type.GetConstructor(Type.EmptyTypes) is null)
        {
            throw new ArgumentException($"Handler '{handler}': {parts[1]} has no public parameterless constructor for the runtime to call", nameof(handler));
        }
        return method;
    }
}
