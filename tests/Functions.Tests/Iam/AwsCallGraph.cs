using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace WapBackup.Functions.Tests.Iam;

/// <summary>One AWS SDK operation a component's code calls, and where it can tell, on which table and index.</summary>
/// <param name="Service">The SDK client's service: S3, DynamoDB, SimpleSystemsManagement.</param>
/// <param name="Operation">The operation without Async, e.g. PutObject.</param>
/// <param name="Table">For DynamoDB: the <c>StoreTables</c> property read last before the call (Repositories, Tasks, ...).</param>
/// <param name="Index">For DynamoDB: the index name set on the request, if any.</param>
/// <param name="Caller">The product method that calls it (for messages).</param>
internal sealed record AwsCall(string Service, string Operation, string? Table, string? Index, string Caller);

/// <summary>
/// The AWS SDK calls reachable from a component's entry points, read from the compiled product
/// assemblies (System.Reflection.Metadata, no loading). A method is reachable when a reachable
/// method calls it, takes its address (lambdas, delegates), or it is a virtual method of a type a
/// reachable method uses that framework code dispatches to (async and iterator state machines,
/// Dispose, ToString). A call to a product interface or virtual method reaches every product
/// implementation of that name (class hierarchy analysis), so the answer over-approximates the
/// calls but never misses one. Calls into non-product code are not followed, except that a call
/// on an SDK client (<c>IAmazonX</c>/<c>AmazonXClient</c>) is recorded as an <see cref="AwsCall"/>,
/// and SDK helpers that issue calls we cannot see (paginators, TransferUtility, the document
/// and object models) are reported as <see cref="Unanalysable"/>.
/// </summary>
internal sealed class AwsCallGraph : IDisposable
{
    private const string StoreTablesType = "WapBackup.Aws.Store.StoreTables";

    /// <summary>Not an SDK client (decision 0800): its public <c>XxxAsync</c> methods are the Step Functions operations Xxx.</summary>
    private const string StepFunctionsClientType = "WapBackup.Aws.StepFunctions.StepFunctionsClient";

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private readonly List<Module> _modules = [];
    private readonly Dictionary<string, (Module Module, TypeDefinitionHandle Handle)> _types = new(StringComparer.Ordinal);
    private readonly Dictionary<(int, TypeDefinitionHandle), HashSet<string>> _superTypes = [];

    private AwsCallGraph(IEnumerable<string> assemblyPaths)
    {
        foreach (string path in assemblyPaths)
        {
            var module = new Module(path, _modules.Count);
            _modules.Add(module);
            foreach (TypeDefinitionHandle handle in module.Reader.TypeDefinitions)
            {
                _types.TryAdd(module.FullName(handle), (module, handle));
            }
        }
    }

    /// <summary>Product assemblies: the only code whose calls are followed.</summary>
    public static AwsCallGraph Load(IEnumerable<string> assemblyPaths) => new(assemblyPaths);

    public void Dispose()
    {
        foreach (Module module in _modules)
        {
            module.Pe.Dispose();
        }
    }

    /// <summary>Calls of SDK helpers whose AWS operations cannot be read from our code (each must be replaced or mapped).</summary>
    public List<string> Unanalysable { get; } = [];

    /// <summary>The entry point method of an assembly (an exe's Main).</summary>
    public MethodId EntryPoint(string assemblyName)
    {
        Module module = _modules.Single(m => m.Name == assemblyName);
        int token = module.Pe.PEHeaders.CorHeader!.EntryPointTokenOrRelativeVirtualAddress;
        return new MethodId(module.Index, (MethodDefinitionHandle)MetadataTokens.EntityHandle(token));
    }

    /// <summary>Every method named <paramref name="name"/> of a product type (constructors are <c>.ctor</c>).</summary>
    public IEnumerable<MethodId> Methods(string typeFullName, string name)
    {
        (Module module, TypeDefinitionHandle handle) = _types[typeFullName];
        return module.Reader.GetTypeDefinition(handle).GetMethods()
            .Where(m => module.Reader.GetString(module.Reader.GetMethodDefinition(m).Name) == name)
            .Select(m => new MethodId(module.Index, m));
    }

    /// <summary>The AWS calls reachable from the entry points.</summary>
    public IReadOnlyList<AwsCall> CallsFrom(IEnumerable<MethodId> entryPoints)
    {
        var calls = new List<AwsCall>();
        var seen = new HashSet<MethodId>();
        var touchedTypes = new HashSet<(int, TypeDefinitionHandle)>();
        var work = new Stack<MethodId>(entryPoints);
        while (work.Count > 0)
        {
            MethodId method = work.Pop();
            if (seen.Add(method))
            {
                Walk(method, work, touchedTypes, calls);
            }
        }
        return calls;
    }

    private void Walk(MethodId id, Stack<MethodId> work, HashSet<(int, TypeDefinitionHandle)> touchedTypes, List<AwsCall> calls)
    {
        Module module = _modules[id.Module];
        MethodDefinition definition = module.Reader.GetMethodDefinition(id.Handle);
        Touch(module, definition.GetDeclaringType(), work, touchedTypes);
        if (definition.RelativeVirtualAddress == 0)
        {
            return; // abstract, extern or interface method: its implementations are pushed by the caller
        }
        string caller = module.FullName(definition.GetDeclaringType()) + "." + module.Reader.GetString(definition.Name);
        BlobReader il = module.Pe.GetMethodBody(definition.RelativeVirtualAddress).GetILReader();
        string? lastTable = null;
        string? lastString = null;
        string? lastIndex = null;
        while (il.RemainingBytes > 0)
        {
            short value = il.ReadByte();
            if (value == 0xFE)
            {
                value = unchecked((short)(0xFE00 | il.ReadByte()));
            }
            OpCode opCode = OpCodesByValue[value];
            switch (opCode.OperandType)
            {
                case OperandType.InlineMethod:
                case OperandType.InlineField:
                case OperandType.InlineType:
                case OperandType.InlineTok:
                {
                    EntityHandle token = MetadataTokens.EntityHandle(il.ReadInt32());
                    if (opCode.OperandType != OperandType.InlineMethod)
                    {
                        TouchToken(module, token, work, touchedTypes);
                        break;
                    }
                    foreach (Target target in ResolveMethod(module, token, work, touchedTypes))
                    {
                        switch (target)
                        {
                            case Target.Product product:
                                work.Push(product.Method);
                                if (opCode == OpCodes.Callvirt || opCode == OpCodes.Ldvirtftn)
                                {
                                    foreach (MethodId implementation in Implementations(product.Method))
                                    {
                                        work.Push(implementation);
                                    }
                                }
                                break;
                            case Target.External external:
                                if (external.MethodName == "set_IndexName" && external.TypeName.StartsWith("Amazon.DynamoDBv2.Model.", StringComparison.Ordinal))
                                {
                                    lastIndex = lastString;
                                }
                                else if (SdkClientService(external.TypeName) is { } service && external.MethodName.EndsWith("Async", StringComparison.Ordinal))
                                {
                                    string operation = external.MethodName[..^"Async".Length];
                                    calls.Add(new AwsCall(service, operation, service == "DynamoDB" ? lastTable : null, service == "DynamoDB" ? lastIndex : null, caller));
                                    lastIndex = null;
                                }
                                else if (IsOpaqueSdkHelper(external.TypeName, external.MethodName))
                                {
                                    Unanalysable.Add($"{caller} calls {external.TypeName}.{external.MethodName}");
                                }
                                break;
                        }
                        if (target is Target.Product { Method: var sfn } && _modules[sfn.Module].FullName(_modules[sfn.Module].Reader.GetMethodDefinition(sfn.Handle).GetDeclaringType()) == StepFunctionsClientType)
                        {
                            string name = _modules[sfn.Module].Reader.GetString(_modules[sfn.Module].Reader.GetMethodDefinition(sfn.Handle).Name);
                            if (name.EndsWith("ExecutionAsync", StringComparison.Ordinal))
                            {
                                calls.Add(new AwsCall("StepFunctions", name[..^"Async".Length], null, null, caller));
                            }
                        }
                        if (target is Target.Product { Method: var m } && _modules[m.Module].FullName(_modules[m.Module].Reader.GetMethodDefinition(m.Handle).GetDeclaringType()) == StoreTablesType)
                        {
                            string name = _modules[m.Module].Reader.GetString(_modules[m.Module].Reader.GetMethodDefinition(m.Handle).Name);
                            if (name.StartsWith("get_", StringComparison.Ordinal))
                            {
                                lastTable = name["get_".Length..];
                                lastIndex = null;
                            }
                        }
                    }
                    break;
                }
                case OperandType.InlineString:
                    lastString = module.Reader.GetUserString(MetadataTokens.UserStringHandle(il.ReadInt32()));
                    break;
                case OperandType.InlineSwitch:
                    int targets = il.ReadInt32(); // read first: "il.Offset += ..." would read Offset before the count
                    il.Offset += 4 * targets;
                    break;
                case OperandType.InlineI8:
                case OperandType.InlineR:
                    il.Offset += 8;
                    break;
                case OperandType.InlineBrTarget:
                case OperandType.InlineI:
                case OperandType.InlineSig:
                case OperandType.ShortInlineR:
                    il.Offset += 4;
                    break;
                case OperandType.InlineVar:
                    il.Offset += 2;
                    break;
                case OperandType.ShortInlineBrTarget:
                case OperandType.ShortInlineI:
                case OperandType.ShortInlineVar:
                    il.Offset += 1;
                    break;
                case OperandType.InlineNone:
                    break;
                default:
                    throw new InvalidOperationException($"IL operand type {opCode.OperandType} in {caller}");
            }
        }
    }

    /// <summary>"S3" for IAmazonS3 / AmazonS3Client (and the other SDK services), else null.</summary>
    private static string? SdkClientService(string typeName)
    {
        if (!typeName.StartsWith("Amazon.", StringComparison.Ordinal))
        {
            return null;
        }
        string name = typeName[(typeName.LastIndexOf('.') + 1)..];
        if (name.StartsWith("IAmazon", StringComparison.Ordinal) && !name.Contains('/', StringComparison.Ordinal))
        {
            return name["IAmazon".Length..];
        }
        return name.StartsWith("Amazon", StringComparison.Ordinal) && name.EndsWith("Client", StringComparison.Ordinal) && !name.Contains('/', StringComparison.Ordinal)
            ? name["Amazon".Length..^"Client".Length]
            : null;
    }

    private static bool IsOpaqueSdkHelper(string typeName, string methodName) =>
        typeName.StartsWith("Amazon.", StringComparison.Ordinal)
        && (typeName.Contains("Paginator", StringComparison.Ordinal) || methodName == "get_Paginators"
            || typeName.EndsWith("Utility", StringComparison.Ordinal) || typeName.EndsWith("Util", StringComparison.Ordinal)
            || typeName.StartsWith("Amazon.DynamoDBv2.DocumentModel.", StringComparison.Ordinal)
            || typeName.StartsWith("Amazon.DynamoDBv2.DataModel.", StringComparison.Ordinal));

    private abstract record Target
    {
        public sealed record Product(MethodId Method) : Target;
        public sealed record External(string TypeName, string MethodName) : Target;
    }

    private IEnumerable<Target> ResolveMethod(Module module, EntityHandle token, Stack<MethodId> work, HashSet<(int, TypeDefinitionHandle)> touched)
    {
        MetadataReader reader = module.Reader;
        switch (token.Kind)
        {
            case HandleKind.MethodDefinition:
                return [new Target.Product(new MethodId(module.Index, (MethodDefinitionHandle)token))];
            case HandleKind.MethodSpecification:
            {
                MethodSpecification spec = reader.GetMethodSpecification((MethodSpecificationHandle)token);
                var arguments = new TypeNames(module);
                _ = spec.DecodeSignature(arguments, null);
                foreach (string type in arguments.Seen)
                {
                    TouchName(type, work, touched);
                }
                return ResolveMethod(module, spec.Method, work, touched);
            }
            case HandleKind.MemberReference:
            {
                MemberReference member = reader.GetMemberReference((MemberReferenceHandle)token);
                string name = reader.GetString(member.Name);
                string typeName = module.TypeName(member.Parent, touchedNames: out List<string> generics);
                foreach (string type in generics)
                {
                    TouchName(type, work, touched);
                }
                if (!_types.TryGetValue(typeName, out var type2))
                {
                    return [new Target.External(typeName, name)];
                }
                int parameters = member.DecodeMethodSignature(new TypeNames(module), null).RequiredParameterCount;
                return FindMethods(type2.Module, type2.Handle, name, parameters).Select(m => (Target)new Target.Product(m));
            }
            default:
                return [];
        }
    }

    /// <summary>The methods of that name and arity in the type or, if inherited, its nearest product base type.</summary>
    private IEnumerable<MethodId> FindMethods(Module module, TypeDefinitionHandle handle, string name, int parameters)
    {
        for (var current = (module, handle); ;)
        {
            MetadataReader reader = current.module.Reader;
            TypeDefinition type = reader.GetTypeDefinition(current.handle);
            var found = type.GetMethods()
                .Where(m => reader.GetString(reader.GetMethodDefinition(m).Name) == name
                    && reader.GetMethodDefinition(m).DecodeSignature(new TypeNames(current.module), null).RequiredParameterCount == parameters)
                .Select(m => new MethodId(current.module.Index, m))
                .ToList();
            if (found.Count > 0 || type.BaseType.IsNil || !_types.TryGetValue(current.module.TypeName(type.BaseType, out _), out var next))
            {
                return found;
            }
            current = next;
        }
    }

    /// <summary>For an interface or virtual product method: every product method that implements or overrides it (by name).</summary>
    private IEnumerable<MethodId> Implementations(MethodId id)
    {
        Module module = _modules[id.Module];
        MethodDefinition method = module.Reader.GetMethodDefinition(id.Handle);
        if ((method.Attributes & System.Reflection.MethodAttributes.Virtual) == 0)
        {
            yield break;
        }
        string name = module.Reader.GetString(method.Name);
        string declaring = module.FullName(method.GetDeclaringType());
        foreach ((string _, (Module other, TypeDefinitionHandle handle)) in _types)
        {
            if (!SuperTypes(other, handle).Contains(declaring))
            {
                continue;
            }
            MetadataReader reader = other.Reader;
            foreach (MethodDefinitionHandle candidate in reader.GetTypeDefinition(handle).GetMethods())
            {
                string candidateName = reader.GetString(reader.GetMethodDefinition(candidate).Name);
                if (candidateName == name || candidateName.EndsWith("." + name, StringComparison.Ordinal))
                {
                    yield return new MethodId(other.Index, candidate);
                }
            }
        }
    }

    /// <summary>Full names of every base type and interface of a product type, transitively (not the type itself).</summary>
    private HashSet<string> SuperTypes(Module module, TypeDefinitionHandle handle)
    {
        if (_superTypes.TryGetValue((module.Index, handle), out HashSet<string>? cached))
        {
            return cached;
        }
        var result = new HashSet<string>(StringComparer.Ordinal);
        _superTypes[(module.Index, handle)] = result;
        var pending = new Stack<(Module, TypeDefinitionHandle)>([(module, handle)]);
        while (pending.Count > 0)
        {
            (Module m, TypeDefinitionHandle h) = pending.Pop();
            TypeDefinition type = m.Reader.GetTypeDefinition(h);
            var supers = type.GetInterfaceImplementations().Select(i => m.Reader.GetInterfaceImplementation(i).Interface).ToList();
            if (!type.BaseType.IsNil)
            {
                supers.Add(type.BaseType);
            }
            foreach (EntityHandle super in supers)
            {
                string name = m.TypeName(super, out _);
                if (result.Add(name) && _types.TryGetValue(name, out var next))
                {
                    pending.Push(next);
                }
            }
        }
        return result;
    }

    private void TouchToken(Module module, EntityHandle token, Stack<MethodId> work, HashSet<(int, TypeDefinitionHandle)> touched)
    {
        switch (token.Kind)
        {
            case HandleKind.FieldDefinition:
                Touch(module, module.Reader.GetFieldDefinition((FieldDefinitionHandle)token).GetDeclaringType(), work, touched);
                break;
            case HandleKind.MemberReference:
                string typeName = module.TypeName(module.Reader.GetMemberReference((MemberReferenceHandle)token).Parent, out List<string> generics);
                foreach (string type in generics.Append(typeName))
                {
                    TouchName(type, work, touched);
                }
                break;
            case HandleKind.TypeDefinition:
            case HandleKind.TypeReference:
            case HandleKind.TypeSpecification:
                string name = module.TypeName(token, out List<string> args);
                foreach (string type in args.Append(name))
                {
                    TouchName(type, work, touched);
                }
                break;
        }
    }

    private void TouchName(string typeName, Stack<MethodId> work, HashSet<(int, TypeDefinitionHandle)> touched)
    {
        if (_types.TryGetValue(typeName, out var type))
        {
            Touch(type.Module, type.Handle, work, touched);
        }
    }

    /// <summary>
    /// A used type: its static constructor runs, and framework code may call its virtual methods
    /// (MoveNext of a state machine, Dispose, ToString): those that do not implement a product
    /// interface or override a product method (those are reached through their callers).
    /// </summary>
    private void Touch(Module module, TypeDefinitionHandle handle, Stack<MethodId> work, HashSet<(int, TypeDefinitionHandle)> touched)
    {
        if (!touched.Add((module.Index, handle)))
        {
            return;
        }
        MetadataReader reader = module.Reader;
        TypeDefinition type = reader.GetTypeDefinition(handle);
        var productMethodNames = SuperTypes(module, handle)
            .Where(_types.ContainsKey)
            .SelectMany(name =>
            {
                (Module m, TypeDefinitionHandle h) = _types[name];
                return m.Reader.GetTypeDefinition(h).GetMethods().Select(x => m.Reader.GetString(m.Reader.GetMethodDefinition(x).Name));
            })
            .ToHashSet(StringComparer.Ordinal);
        foreach (MethodDefinitionHandle method in type.GetMethods())
        {
            MethodDefinition definition = reader.GetMethodDefinition(method);
            string name = reader.GetString(definition.Name);
            bool isVirtual = (definition.Attributes & System.Reflection.MethodAttributes.Virtual) != 0;
            string shortName = name[(name.LastIndexOf('.') + 1)..];
            if (name == ".cctor" || (isVirtual && !productMethodNames.Contains(shortName) && !productMethodNames.Contains(name)))
            {
                work.Push(new MethodId(module.Index, method));
            }
        }
    }

    /// <summary>One product assembly.</summary>
    private sealed class Module
    {
        public Module(string path, int index)
        {
            Pe = new PEReader(File.OpenRead(path));
            Reader = Pe.GetMetadataReader();
            Index = index;
            Name = Reader.GetString(Reader.GetAssemblyDefinition().Name);
        }

        public PEReader Pe { get; }
        public MetadataReader Reader { get; }
        public int Index { get; }
        public string Name { get; }

        public string FullName(TypeDefinitionHandle handle)
        {
            TypeDefinition type = Reader.GetTypeDefinition(handle);
            string name = Reader.GetString(type.Name);
            if (!type.GetDeclaringType().IsNil)
            {
                return FullName(type.GetDeclaringType()) + "/" + name;
            }
            string ns = Reader.GetString(type.Namespace);
            return ns.Length == 0 ? name : ns + "." + name;
        }

        /// <summary>The full name of a type handle (generic instantiations by their definition) and the type names of its generic arguments.</summary>
        public string TypeName(EntityHandle handle, out List<string> touchedNames)
        {
            touchedNames = [];
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition:
                    return FullName((TypeDefinitionHandle)handle);
                case HandleKind.TypeReference:
                    return ReferenceName((TypeReferenceHandle)handle);
                case HandleKind.TypeSpecification:
                    var names = new TypeNames(this);
                    string name = Reader.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(names, null);
                    touchedNames = names.Seen;
                    return name;
                case HandleKind.MethodDefinition:
                    return FullName(Reader.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType());
                default:
                    return "?";
            }
        }

        public string ReferenceName(TypeReferenceHandle handle)
        {
            TypeReference type = Reader.GetTypeReference(handle);
            string name = Reader.GetString(type.Name);
            if (type.ResolutionScope.Kind == HandleKind.TypeReference)
            {
                return ReferenceName((TypeReferenceHandle)type.ResolutionScope) + "/" + name;
            }
            string ns = Reader.GetString(type.Namespace);
            return ns.Length == 0 ? name : ns + "." + name;
        }
    }

    /// <summary>Decodes signatures to type full names; a generic instantiation is named by its definition, its arguments collected in <see cref="Seen"/>.</summary>
    private sealed class TypeNames(Module module) : ISignatureTypeProvider<string, object?>
    {
        public List<string> Seen { get; } = [];

        public string GetArrayType(string elementType, ArrayShape shape) => elementType;
        public string GetByReferenceType(string elementType) => elementType;
        public string GetFunctionPointerType(MethodSignature<string> signature) => "fnptr";
        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments)
        {
            Seen.AddRange(typeArguments);
            return genericType;
        }
        public string GetGenericMethodParameter(object? genericContext, int index) => "!!" + index;
        public string GetGenericTypeParameter(object? genericContext, int index) => "!" + index;
        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;
        public string GetPinnedType(string elementType) => elementType;
        public string GetPointerType(string elementType) => elementType;
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();
        public string GetSZArrayType(string elementType) => elementType;
        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => Note(module.FullName(handle));
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => Note(module.ReferenceName(handle));
        public string GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);

        private string Note(string name)
        {
            Seen.Add(name);
            return name;
        }
    }
}

/// <summary>A method of a product assembly.</summary>
internal readonly record struct MethodId(int Module, MethodDefinitionHandle Handle);
